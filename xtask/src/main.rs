//! `cargo xtask`: the project's own automation (rust-analyzer's xtask pattern).
//!
//! - `test`  installs and starts what the suite needs, then runs fmt, clippy and every test
//! - `demo`  builds a base image and an example repository, releases it, verifies it
//! - `bench` the benchmarks the issues ask for, each a ratio against a reference tool
//! - `fuzz`  every fuzz target (cargo-fuzz, nightly), with runs and crashes per target
//! - `dist`  reprove built by reprove from a tag: the binary, SHA256SUMS and an OCI image

mod bench;
mod demo;
mod dist;
mod fuzz;
mod util;

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            util::say(&format!("xtask: error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("demo") => demo::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run_fuzz(&args[1..]),
        Some("layering") => layering(),
        Some("dist") => dist::run(&dist::DistArgs::parse(&args[1..])?),
        _ => bail!(
            "usage: cargo xtask <test|demo|bench|fuzz|layering|dist>\n  test   set up git, gpg and validators, then fmt + clippy + all tests\n  demo   release an example repository end to end and verify it as an auditor\n  bench  the benchmarks, each against a reference tool\n  fuzz   every fuzz target with cargo-fuzz [--seconds N] [--target NAME] [--seed]\n  layering  the read/write crates compile no TLS, HTTP or Sigstore stack (part of test)\n  dist   reprove built by reprove from the tag at HEAD: binary, SHA256SUMS, OCI image [--check] [--repin] [--rootfs FILE]"
        ),
    }
}

/// Everything CI checks, in the order that fails fastest.
fn test(extra: &[String]) -> Result<()> {
    util::say(&util::disk_line("at the start"));
    util::ensure_tools(&[
        ("git", "git"),
        ("gpg", "gnupg"),
        ("openssl", "openssl"),
        ("node", "nodejs"),
        ("npm", "npm"),
        // CNCF Distribution: the tests start their own on loopback ports.
        ("/usr/bin/docker-registry", "docker-registry"),
        ("script", "bsdutils"),
        // The container engine and the busybox the rebuild tests' base image is made of.
        ("dockerd", "docker.io"),
        ("/bin/busybox", "busybox-static"),
        ("mmdebstrap", "mmdebstrap"),
        // So the suite checks the diffoscope path of mismatch explanations too.
        ("diffoscope", "diffoscope-minimal"),
        // podman works here only with runc and the ulimits this kernel allows.
        ("podman", "podman"),
        ("runc", "runc"),
        // renders the HTML audit report in the suite, as an auditor's browser would
        ("chromium", "chromium"),
        // the CI templates' install and download steps, run for real in the suite
        ("curl", "curl"),
        // the remote-engine test: a second dockerd in its own network and mount namespaces
        ("ip", "iproute2"),
        ("nsenter", "util-linux"),
        ("unshare", "util-linux"),
        // DOCKER_HOST=ssh://: an sshd of the test's own in that namespace
        ("/usr/sbin/sshd", "openssh-server"),
        ("ssh", "openssh-client"),
    ])?;
    let containers_conf = util::target().join("xtask").join("containers.conf");
    std::fs::create_dir_all(util::target().join("xtask"))?;
    std::fs::write(
        &containers_conf,
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n[engine]\nruntime = \"runc\"\n",
    )?;
    let containers_conf = containers_conf.display().to_string();
    let gcc_rootfs = util::debian_gcc_rootfs()?;
    let gcc_rootfs = gcc_rootfs.display().to_string();
    let rust_rootfs = util::debian_rust_rootfs()?;
    let rust_rootfs = rust_rootfs.display().to_string();
    let python_rootfs = util::debian_python_rootfs()?;
    let python_rootfs = python_rootfs.display().to_string();
    let node_rootfs = util::debian_node_rootfs()?;
    let node_rootfs = node_rootfs.display().to_string();
    let dockerd = util::Dockerd::start()?;
    // Independent verifiers the suite checks reprove's output with.
    let python = util::python_venv(
        &[
            "cyclonedx-python-lib[json-validation]==8.*",
            "securesystemslib[crypto]==1.*",
            "in-toto-attestation==0.9.*",
            // reads the CI templates in examples/ci the way the CI systems do
            "pyyaml==6.*",
            // makes a real key-signed model-signing bundle for the interop vectors (its
            // certificate code imports pyOpenSSL without declaring it)
            "model-signing==1.*",
            "pyopenssl==26.*",
            // validates every --format json document against schemas/ (Draft 2020-12)
            "jsonschema==4.*",
            // SPDX's own parser and validator for the SPDX 2.3 SOUP documents
            "spdx-tools==0.8.*",
        ],
        "import cyclonedx.validation.json, securesystemslib.dsse, in_toto_attestation, yaml, model_signing, jsonschema, spdx_tools.spdx.validation.document_validator",
    )?;
    let node_modules = util::node_modules(
        &[
            "@sigstore/verify@3",
            "@sigstore/bundle@4",
            "@sigstore/core@3",
            "@sigstore/protobuf-specs@0.5",
            // Sigstore's own mock Fulcio, Rekor and TSA for the keyless tests; 0.12 is the
            // newest that runs on Debian's Node 20 (0.13 needs Node 22)
            "@sigstore/mock@0.12.1",
            // attaches bundles to images as OCI referrers, as actions/attest does (interop
            // with evidence in registries); 0.7 asks for Node 22 but runs on Debian's 20, and
            // 0.6 requires a package it does not declare (promise-retry)
            "@sigstore/oci@0.7.2",
            "pkijs@3",
            "asn1js@3",
        ],
        "require('@sigstore/verify'); require('@sigstore/bundle'); require('@sigstore/protobuf-specs'); require('@sigstore/mock'); require('@sigstore/oci'); require('pkijs'); require('asn1js')",
    )?;
    let node_modules = node_modules.display().to_string();
    util::cargo(&["fmt", "--all", "--", "--check"], &[])?;
    util::cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    layering()?;
    let mut args = vec!["test", "--workspace"];
    args.extend(extra.iter().map(String::as_str));
    let py = python.display().to_string();
    let totals = util::cargo_test(
        &args,
        &[
            ("REPROVE_REQUIRE_TOOLS", "1"),
            ("REPROVE_TEST_PYTHON", py.as_str()),
            ("REPROVE_TEST_NODE_MODULES", node_modules.as_str()),
            ("REPROVE_TEST_DOCKER_HOST", dockerd.host.as_str()),
            ("REPROVE_TEST_GCC_ROOTFS", gcc_rootfs.as_str()),
            ("REPROVE_TEST_RUST_ROOTFS", rust_rootfs.as_str()),
            ("REPROVE_TEST_PYTHON_ROOTFS", python_rootfs.as_str()),
            ("REPROVE_TEST_NODEJS_ROOTFS", node_rootfs.as_str()),
            ("REPROVE_TEST_CONTAINERS_CONF", containers_conf.as_str()),
            // Snapshots are compared, never rewritten, by the suite.
            ("INSTA_UPDATE", "no"),
        ],
    )?;
    util::say(&util::disk_line("after the tests"));
    // One closing line for the whole suite (cargo prints one per test binary).
    util::out(&format!(
        "tests: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    ));
    if !totals.ok || totals.failed > 0 || totals.passed == 0 {
        anyhow::bail!("the test suite did not pass");
    }
    // reprove released by reprove: HEAD built from its own reprove.toml, then built again to
    // the same bytes (the whole suite only: a filtered run is a developer's quick loop).
    if extra.is_empty() {
        dist::check_in_clone(Some(&dockerd.host)).context("the dist check failed")?;
        util::say(&util::disk_line("after the dist check"));
    }
    drop(dockerd);
    util::say("xtask: all checks passed");
    Ok(())
}

/// The crates that only read and write (baseline, build, SOUP, source, digests, image
/// references, statements) compile no TLS, HTTP or Sigstore verification stack: those stay
/// behind `reprove-oci/registry` and `reprove-attest/verify`, which only the crates that talk to
/// registries or verify bundles turn on (ARCHITECTURE.md, "Layering").
fn layering() -> Result<()> {
    const LIGHT: &[&str] = &[
        "reprove-baseline",
        "reprove-build",
        "reprove-build-types",
        "reprove-fetch",
        "reprove-soup",
        "reprove-source",
        "reprove-digest",
        "reprove-oci",
        "reprove-attest",
        "reprove-escape",
    ];
    const HEAVY: &[&str] = &[
        "aws-lc-sys",
        "aws-lc-rs",
        "ring",
        "rustls",
        "ureq",
        "sigstore-verify",
    ];
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for krate in LIGHT {
        let out = std::process::Command::new(&cargo)
            .current_dir(util::root())
            .args([
                "tree", "-q", "-e", "normal", "--prefix", "none", "-p", krate,
            ])
            .output()?;
        if !out.status.success() {
            bail!(
                "cargo tree -p {krate} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let tree = String::from_utf8_lossy(&out.stdout);
        let found: Vec<&str> = HEAVY
            .iter()
            .copied()
            .filter(|h| tree.lines().any(|l| l.split(' ').next() == Some(*h)))
            .collect();
        if !found.is_empty() {
            bail!(
                "layering: `{krate}` compiles {} (keep registry and verification code behind the `registry` and `verify` features)",
                found.join(", ")
            );
        }
    }
    util::out(
        "layering: the read/write crates compile no TLS, HTTP or Sigstore verification stack",
    );
    Ok(())
}
