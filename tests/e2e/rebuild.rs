//! `reprove rebuild` in a real container engine (Debian's docker.io, started by
//! `cargo xtask test`), with a busybox image the test builds and pushes to a real loopback
//! registry.

use reprove_oci::testing::{TestRegistry, busybox_layer};
use serde_json::Value;

use crate::support::{Fixture, require_tool, stderr};

/// The engine `cargo xtask test` started; `None` (skip) outside it.
pub(crate) fn engine() -> Option<String> {
    match std::env::var("REPROVE_TEST_DOCKER_HOST") {
        Ok(h) => Some(h),
        Err(_) => {
            assert!(
                std::env::var_os("REPROVE_REQUIRE_TOOLS").is_none(),
                "REPROVE_TEST_DOCKER_HOST is not set; cargo xtask test starts dockerd"
            );
            eprintln!("skipping: no container engine (run cargo xtask test)");
            None
        }
    }
}

struct Setup {
    f: Fixture,
    _reg: TestRegistry,
    docker_host: String,
    image: String,
    diffoscope: String,
}

/// The engine, a loopback registry, and a busybox image pushed to it, pinned by digest:
/// `None` (skip) outside `cargo xtask test`.
pub(crate) fn busybox_on_loopback() -> Option<(String, TestRegistry, String)> {
    let docker_host = engine()?;
    if !require_tool("docker-registry") {
        return None;
    }
    let reg = TestRegistry::start();
    let digest = reg.push_rootfs("reprove/busybox", "1", &busybox_layer());
    let image = format!("{}/reprove/busybox:1@{digest}", reg.host);
    Some((docker_host, reg, image))
}

fn setup(build_sh: &str) -> Option<Setup> {
    let (docker_host, reg, image) = busybox_on_loopback()?;
    let f = Fixture::new();
    f.write("reprove.toml", format!("[project]\nname = \"tiny\"\n\n[build]\nimage = \"{image}\"\ncommand = [\"sh\", \"build.sh\"]\nartifacts = [\"dist/*\"]\nenv = {{ GREETING = \"hello\" }}\n"));
    f.write("src/greeting.txt", "hello, reproducible world\n");
    f.write("build.sh", build_sh);
    f.commit("release\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    Some(Setup {
        f,
        _reg: reg,
        docker_host,
        image,
        diffoscope: String::new(),
    })
}

impl Setup {
    fn rebuild(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
        cmd.current_dir(self.f.repo()).arg("rebuild").args(args);
        self.f.env(&mut cmd);
        cmd.env("DOCKER_HOST", &self.docker_host);
        // reprove's own explanations unless a test asks for diffoscope.
        cmd.env("REPROVE_DIFFOSCOPE", &self.diffoscope);
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr(&out),
        )
    }

    fn path(&self, p: &str) -> String {
        self.f.path(p).display().to_string()
    }
}

const DETERMINISTIC: &str = "set -eu\nmkdir -p dist\ncat src/greeting.txt > dist/greeting.txt\necho \"$GREETING at $SOURCE_DATE_EPOCH\" > dist/stamp.txt\ntar -cf dist/src.tar src/greeting.txt\n";

#[test]
fn a_reproducible_release_matches_bit_for_bit() {
    let Some(s) = setup(DETERMINISTIC) else {
        return;
    };
    let (code, out, err) = s.rebuild(&["v1.0.0", "--keep", &s.path("first")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("built     greeting.txt"), "{out}");
    // The kept artifacts play the published release; a second rebuild must match them.
    let (code, out, err) = s.rebuild(&[
        "v1.0.0",
        "--artifacts",
        &s.path("first/artifacts"),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["verdict"], "reproducible");
    assert_eq!(r["network"], "none");
    assert_eq!(r["image"], s.image.replacen(":1@", "@", 1));
    assert_eq!(r["commit"], s.f.git(&["rev-parse", "v1.0.0^{commit}"]));
    let epoch = s.f.git(&["log", "-1", "--format=%ct", "v1.0.0"]);
    assert_eq!(r["conditions"]["environment"]["SOURCE_DATE_EPOCH"], epoch);
    assert_eq!(r["conditions"]["environment"]["TZ"], "UTC");
    assert_eq!(r["conditions"]["buildPath"], "/build/src");
    // The build tree is the committed tree, whatever the clone's own attributes, config and
    // branches say (regression, issue 11: `git archive` applied `.git/info/attributes`, so
    // `* export-ignore` emptied the build tree and a branch name changed `$Format:%D$`).
    let archive = r["sourceArchiveSha256"].as_str().unwrap().to_owned();
    assert_eq!(archive.len(), 64);
    std::fs::write(
        s.f.repo().join(".git/info/attributes"),
        "* export-ignore\nsrc/greeting.txt export-subst\n",
    )
    .unwrap();
    s.f.git(&["branch", "attacker-branch"]);
    s.f.git(&["config", "tar.umask", "0777"]);
    let (code, out, err) = s.rebuild(&[
        "v1.0.0",
        "--artifacts",
        &s.path("first/artifacts"),
        "--format",
        "json",
    ]);
    assert_eq!(
        code, 0,
        "the clone's attributes changed the build: {out}{err}"
    );
    let again: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(again["sourceArchiveSha256"], archive.as_str());
    let verdicts: Vec<&str> = r["comparison"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["match", "match", "match"]);
    // The kept stamp proves the environment: the recipe's env and the commit time.
    assert_eq!(
        std::fs::read_to_string(s.f.path("first/artifacts/stamp.txt")).unwrap(),
        format!("hello at {epoch}\n")
    );
    // A SHA256SUMS file works as the published set too.
    use sha2::Digest as _;
    let sums: String = ["greeting.txt", "src.tar", "stamp.txt"]
        .iter()
        .map(|n| {
            format!(
                "{}  dist/{n}\n",
                hex::encode(sha2::Sha256::digest(
                    std::fs::read(s.f.path(&format!("first/artifacts/{n}"))).unwrap()
                ))
            )
        })
        .collect();
    std::fs::write(s.f.path("SHA256SUMS"), sums).unwrap();
    let (code, out, _) = s.rebuild(&["v1.0.0", "--artifacts", &s.path("SHA256SUMS")]);
    assert_eq!(code, 0, "{out}");
    // JUnit for CI.
    let (_, junit, _) = s.rebuild(&[
        "v1.0.0",
        "--artifacts",
        &s.path("first/artifacts"),
        "--format",
        "junit",
    ]);
    assert!(junit.contains("tests=\"3\" failures=\"0\""), "{junit}");
}

#[test]
fn a_tampered_artifact_is_named_and_explained() {
    let Some(s) = setup(DETERMINISTIC) else {
        return;
    };
    let (code, _, err) = s.rebuild(&["v1.0.0", "--keep", &s.path("k")]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(
        s.f.path("k/artifacts/greeting.txt"),
        "hello, reproducible w0rld\n",
    )
    .unwrap();
    std::fs::write(
        s.f.path("k/artifacts/notes.txt"),
        "published, never built\n",
    )
    .unwrap();
    std::fs::remove_file(s.f.path("k/artifacts/stamp.txt")).unwrap();
    let (code, out, err) = s.rebuild(&["v1.0.0", "--artifacts", &s.path("k/artifacts")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("MISMATCH  greeting.txt"), "{out}");
    assert!(out.contains("MISSING   notes.txt"), "{out}");
    assert!(out.contains("EXTRA     stamp.txt"), "{out}");
    assert!(out.contains("first difference at byte 21"), "{out}");
    assert!(out.contains("verdict: not-reproducible"), "{out}");
}

#[test]
fn nondeterminism_is_caught_and_named() {
    let build = "set -eu\nmkdir -p dist\ncat src/greeting.txt > dist/greeting.txt\ncat /proc/sys/kernel/random/uuid > dist/build-id.txt\n";
    let Some(s) = setup(build) else { return };
    let (code, _, err) = s.rebuild(&["v1.0.0", "--keep", &s.path("k")]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = s.rebuild(&[
        "v1.0.0",
        "--artifacts",
        &s.path("k/artifacts"),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{out}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let bad: Vec<&str> = r["comparison"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] != "match")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(bad, ["build-id.txt"]);
    // Why no normalization makes them the same is on record.
    let why = r["comparison"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "build-id.txt")
        .unwrap()["notEquivalent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(why.contains("knows no normalization"), "{why}");
}

#[test]
fn environment_sensitive_builds_are_caught_only_by_variations() {
    let build = "set -eu\nmkdir -p dist\necho \"$TZ $(hostname) $(pwd) $(umask) $(id -u)\" > dist/env.txt\ncat src/greeting.txt > dist/greeting.txt\n";
    let Some(s) = setup(build) else { return };
    let (code, _, err) = s.rebuild(&["v1.0.0", "--keep", &s.path("k")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(s.f.path("k/artifacts/env.txt")).unwrap(),
        "UTC reprove /build/src 0022 0\n"
    );
    let (code, out, err) = s.rebuild(&["v1.0.0", "--artifacts", &s.path("k/artifacts")]);
    assert_eq!(code, 0, "fixed conditions reproduce it: {out}{err}");
    let (code, out, err) = s.rebuild(&[
        "v1.0.0",
        "--artifacts",
        &s.path("k/artifacts"),
        "--variations",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("CHANGED   env.txt"), "{out}");
    assert!(!out.contains("CHANGED   greeting.txt"), "{out}");
    assert!(
        out.contains("build path, time zone, locale, umask, hostname, user"),
        "{out}"
    );
}

/// Issue 13: a build that rewrites its tracked files (as `./configure` does) also runs
/// under `--variations`, whose build runs as another user; the varied build's explanation
/// names its sides `reference` and `variant`.
#[test]
fn variations_work_for_builds_that_write_into_their_source_tree() {
    let build = "set -eu\necho configured >> src/greeting.txt\nmkdir -p dist\ncat src/greeting.txt > dist/greeting.txt\nid -u > dist/uid.txt\n";
    let Some(s) = setup(build) else { return };
    let (code, out, err) = s.rebuild(&["v1.0.0", "--variations"]);
    assert_eq!(code, 1, "the uid differs, nothing else: {out}{err}");
    assert!(out.contains("CHANGED   uid.txt"), "{out}");
    assert!(!out.contains("CHANGED   greeting.txt"), "{out}");
    assert!(
        out.contains("reference") && out.contains("variant"),
        "{out}"
    );
    assert!(!out.contains("published"), "{out}");
}

#[test]
fn refusals_and_failures_exit_2_and_leave_nothing_behind() {
    let Some(s) = setup("set -eu\nmkdir -p dist\necho ok > dist/ok.txt\n") else {
        return;
    };
    // No engine reachable.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
    cmd.current_dir(s.f.repo()).args(["rebuild", "v1.0.0"]);
    s.f.env(&mut cmd);
    cmd.env("DOCKER_HOST", "unix:///nonexistent/reprove.sock");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not running or not reachable"),
        "{}",
        stderr(&out)
    );
    // An unpinned image is refused before anything runs.
    s.f.write(
        "reprove.toml",
        "[build]\nimage = \"busybox:1\"\ncommand = [\"true\"]\n",
    );
    s.f.commit("unpin\n\nReviewed-by: R <r@example.com>");
    s.f.tag("v1.0.1");
    let (code, _, err) = s.rebuild(&["v1.0.1"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not pinned by digest"), "{err}");
    // The build has no network: reaching the registry (reachable from the host) fails.
    let host = s.image.split('/').next().unwrap().to_owned();
    s.f.write("reprove.toml", format!("[build]\nimage = \"{}\"\ncommand = [\"sh\", \"-c\", \"wget -q -T 3 -O /tmp/x http://{host}/v2/ && mkdir -p dist && echo leaked > dist/x\"]\nartifacts = [\"dist/*\"]\n", s.image));
    s.f.commit("try the network\n\nReviewed-by: R <r@example.com>");
    s.f.tag("v1.0.2");
    let (code, out, err) = s.rebuild(&["v1.0.2", "--keep", &s.path("never")]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("the build failed with exit code"), "{err}");
    // The failed build keeps only its log, where the error says (it was once deleted with the
    // staging folder while the message still pointed at it).
    let log = s.f.path("never/build.log");
    assert!(
        err.contains(&log.display().to_string()),
        "the error names the kept log: {err}"
    );
    // …and shows its end before the error, where the cause is.
    assert!(
        err.contains(&format!("line(s) of `{}`:", log.display())) && err.contains("  | "),
        "{err}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.trim().is_empty(),
        "the log holds what the build printed"
    );
    assert!(!s.f.path("never/rebuild-report.json").exists());
    assert!(!s.f.path("never/artifacts").exists());
    // Without --keep the log stays in a temporary folder, named by the error.
    let (code, _, err) = s.rebuild(&["v1.0.2"]);
    assert_eq!(code, 2);
    let named = err
        .split('`')
        .find(|p| p.ends_with("build.log"))
        .expect("the error names the log");
    assert!(std::path::Path::new(named).exists(), "{err}");
    let _ = std::fs::remove_dir_all(std::path::Path::new(named).parent().unwrap());
    // Unknown recipe keys are errors with a suggestion.
    s.f.write(
        "reprove.toml",
        format!(
            "[build]\nimage = \"{}\"\ncommand = [\"true\"]\nartefacts = []\n",
            s.image
        ),
    );
    s.f.commit("typo\n\nReviewed-by: R <r@example.com>");
    s.f.tag("v1.0.3");
    let (code, _, err) = s.rebuild(&["v1.0.3"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `artifacts`?"), "{err}");
}

/// examples/hello — a C program built with gcc and GNU tar in a Debian image made by
/// mmdebstrap — rebuilds bit for bit.
#[test]
fn the_c_example_rebuilds_bit_for_bit_with_gcc() {
    let Some(docker_host) = engine() else { return };
    let Some(rootfs) = std::env::var_os("REPROVE_TEST_GCC_ROOTFS") else {
        assert!(
            std::env::var_os("REPROVE_REQUIRE_TOOLS").is_none(),
            "REPROVE_TEST_GCC_ROOTFS is not set; cargo xtask test builds it"
        );
        eprintln!("skipping: no Debian gcc rootfs");
        return;
    };
    let reg = TestRegistry::start();
    let layer = std::fs::read(&rootfs).unwrap();
    let digest = reg.push_rootfs("reprove/build-gcc", "bookworm", &layer);
    drop(layer);
    let image = format!("{}/reprove/build-gcc:bookworm@{digest}", reg.host);
    let f = Fixture::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    crate::baseline::copy_dir(&example, &f.repo());
    let toml = std::fs::read_to_string(f.repo().join("reprove.toml")).unwrap();
    let toml: String = toml
        .lines()
        .map(|l| {
            if l.starts_with("image = ") {
                format!("image = \"{image}\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    f.write("reprove.toml", toml);
    f.commit("hello 1.0\n\nApproved-by: Q <q@example.com>");
    f.tag("v1.0.0");
    let s = Setup {
        f,
        _reg: reg,
        docker_host,
        image,
        diffoscope: String::new(),
    };
    let (code, out, err) = s.rebuild(&["v1.0.0", "--keep", &s.path("published")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("built     hello.tar.gz"), "{out}");
    let (code, out, err) = s.rebuild(&[
        "v1.0.0",
        "--artifacts",
        &s.path("published/artifacts"),
        "--variations",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("match     hello  "), "{out}");
    assert!(out.contains("match     hello.tar.gz"), "{out}");
    assert!(out.contains("every artifact identical"), "{out}");
}

#[test]
fn a_build_past_its_timeout_is_stopped() {
    let Some(s) = setup("set -eu\nmkdir -p dist\necho ok > dist/ok.txt\n") else {
        return;
    };
    s.f.write("reprove.toml", format!("[build]\nimage = \"{}\"\ncommand = [\"sleep\", \"120\"]\nartifacts = [\"dist/*\"]\ntimeout = 2\n", s.image));
    s.f.commit("slow\n\nReviewed-by: R <r@example.com>");
    s.f.tag("v2.0.0");
    let (code, out, err) = s.rebuild(&["v2.0.0"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("did not finish within 2 s and was stopped"),
        "{err}"
    );
}

#[test]
fn diffoscope_explains_when_installed_and_its_reports_are_kept() {
    if !require_tool("diffoscope") {
        return;
    }
    let Some(mut s) = setup(DETERMINISTIC) else {
        return;
    };
    let (code, _, err) = s.rebuild(&["v1.0.0", "--keep", &s.path("k")]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(
        s.f.path("k/artifacts/greeting.txt"),
        "hello, tampered world\n",
    )
    .unwrap();
    let which = std::process::Command::new("sh")
        .args(["-c", "command -v diffoscope"])
        .output()
        .unwrap();
    s.diffoscope = String::from_utf8_lossy(&which.stdout).trim().to_owned();
    let (code, out, err) = s.rebuild(&[
        "v1.0.0",
        "--artifacts",
        &s.path("k/artifacts"),
        "--keep",
        &s.path("k2"),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("why `greeting.txt` differs (diffoscope)"),
        "{out}"
    );
    assert!(out.contains("-hello, tampered world"), "{out}");
    assert!(s.f.path("k2/greeting.txt.diffoscope.html").exists());
    assert!(s.f.path("k2/greeting.txt.diffoscope.txt").exists());
}

/// The same rebuild with podman (runc, and the ulimits this kernel allows, from the
/// containers.conf `cargo xtask test` writes): docker and podman take the same flags.
#[test]
fn podman_rebuilds_the_same_bits() {
    let Some(conf) = std::env::var_os("REPROVE_TEST_CONTAINERS_CONF") else {
        assert!(
            std::env::var_os("REPROVE_REQUIRE_TOOLS").is_none(),
            "REPROVE_TEST_CONTAINERS_CONF is not set; cargo xtask test writes it"
        );
        eprintln!("skipping: podman is not set up");
        return;
    };
    let Some(s) = setup(DETERMINISTIC) else {
        return;
    };
    let (code, out, err) = s.rebuild(&["v1.0.0", "--keep", &s.path("docker")]);
    assert_eq!(code, 0, "{out}{err}");
    // Mounted, and copied in and out as for a remote podman (`CONTAINER_HOST`).
    for (extra, transfer) in [(None, "mount"), (Some("--remote-engine"), "copy")] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
        cmd.current_dir(s.f.repo()).args([
            "rebuild",
            "v1.0.0",
            "--engine",
            "podman",
            "--artifacts",
            &s.path("docker/artifacts"),
            "--format",
            "json",
        ]);
        cmd.args(extra);
        s.f.env(&mut cmd);
        cmd.env("CONTAINERS_CONF", &conf)
            .env("REPROVE_DIFFOSCOPE", "");
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{transfer}: {text}{}",
            stderr(&out)
        );
        let r: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(r["engine"], "podman");
        assert_eq!(r["engineSite"]["transfer"], transfer);
        assert_eq!(r["verdict"], "reproducible");
    }
}

/// Regression (issue 11): after `kill -9` of a rebuild, its container kept running and its
/// exported tree stayed in the temporary folder. The next run removes both.
#[test]
fn a_killed_rebuild_leaves_no_container_or_tree_behind() {
    let Some(s) = setup("sleep 300\n") else {
        return;
    };
    // A quick second release to run afterwards; the slow one has a short timeout, so its
    // watchdog does not linger either.
    let toml = std::fs::read_to_string(s.f.repo().join("reprove.toml")).unwrap();
    s.f.write(
        "reprove.toml",
        toml.replace("[build]\n", "[build]\ntimeout = 120\n"),
    );
    s.f.commit("slow\n\nReviewed-by: R <r@example.com>");
    s.f.tag("v1.0.1");
    s.f.write("build.sh", "mkdir -p dist; echo ok > dist/ok.txt\n");
    s.f.commit("quick\n\nReviewed-by: R <r@example.com>");
    s.f.tag("v1.0.2");
    let tmp = s.f.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let docker = |args: &[&str]| -> String {
        let out = std::process::Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &s.docker_host)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let trees = || -> Vec<String> {
        std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("reprove-build-") || n.starts_with(".reprove-rebuild-"))
            .collect()
    };
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
    cmd.current_dir(s.f.repo()).args(["rebuild", "v1.0.1"]);
    s.f.env(&mut cmd);
    cmd.env("DOCKER_HOST", &s.docker_host)
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // This run's container: the one labelled with the owner id its build tree is named after
    // (other tests' builds run at the same time).
    let mut name = String::new();
    for _ in 0..600 {
        let owner = trees().iter().find_map(|t| {
            t.strip_prefix("reprove-build-")?
                .split('-')
                .next()
                .map(str::to_owned)
        });
        if let Some(owner) = owner {
            name = docker(&[
                "ps",
                "--filter",
                &format!("label=dev.reprove.owner={owner}"),
                "--format",
                "{{.Names}}",
            ]);
            if !name.is_empty() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!name.is_empty(), "the build container never started");
    child.kill().unwrap();
    child.wait().unwrap();
    // Killed: the container runs on and the tree is still there…
    assert_eq!(
        docker(&[
            "ps",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}}"
        ]),
        name
    );
    assert!(!trees().is_empty());
    // …until the next run, which removes both before it builds.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
    cmd.current_dir(s.f.repo()).args(["rebuild", "v1.0.2"]);
    s.f.env(&mut cmd);
    let out = cmd
        .env("DOCKER_HOST", &s.docker_host)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}}"
        ]),
        "",
        "the killed run's container is gone"
    );
    assert_eq!(
        trees(),
        Vec::<String>::new(),
        "the killed run's tree is gone"
    );
}

/// A project's release `v0.1.0`, tagged before it had a `reprove.toml`, and the recipe that
/// builds it.
fn old_release(image: &str) -> (Fixture, String) {
    let f = Fixture::new();
    f.write("src/greeting.txt", "hello, reproducible world\n");
    f.write("build.sh", DETERMINISTIC);
    f.commit("old release\n\nReviewed-by: R <r@example.com>");
    f.tag("v0.1.0");
    let recipe = format!(
        "[build]\nimage = \"{image}\"\ncommand = [\"sh\", \"build.sh\"]\nartifacts = [\"dist/*\"]\nenv = {{ GREETING = \"hello\" }}\n"
    );
    (f, recipe)
}

/// A release made before the project had a `reprove.toml` is rebuilt with a recipe from
/// outside the tag (issue 13): a file, or the `reprove.toml` at another revision. The report
/// says where the recipe came from, by sha256, and that it is not the release's own.
#[test]
fn a_release_made_before_reprove_rebuilds_with_a_recipe_from_outside() {
    let Some((docker_host, _reg, image)) = busybox_on_loopback() else {
        return;
    };
    let (f, recipe) = old_release(&image);
    f.write("reprove.toml", &recipe);
    f.commit("adopt reprove\n\nReviewed-by: R <r@example.com>");
    let outside = f.dir.path().join("recipe.toml");
    std::fs::write(&outside, &recipe).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
        cmd.current_dir(f.repo()).arg("rebuild").args(args);
        f.env(&mut cmd);
        cmd.env("DOCKER_HOST", &docker_host);
        cmd.env("REPROVE_DIFFOSCOPE", "");
        cmd.output().unwrap()
    };
    // Without one, the old tag cannot be rebuilt, and says why.
    let out = run(&["v0.1.0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("reprove.toml"), "{}", stderr(&out));
    let want = reprove_digest::sha256_bytes(recipe.as_bytes()).hex();
    let head = f.git(&["rev-parse", "HEAD"]);
    for (args, origin) in [
        (
            vec!["v0.1.0", "--recipe", outside.to_str().unwrap()],
            "file recipe.toml".to_owned(),
        ),
        (
            vec!["v0.1.0", "--recipe-from", "main"],
            format!("commit {head}"),
        ),
    ] {
        let mut json_args = args.clone();
        json_args.extend(["--format", "json"]);
        let out = run(&json_args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["externalRecipe"]["origin"], origin.as_str());
        assert_eq!(r["externalRecipe"]["sha256"], want.as_str());
        assert_eq!(r["commit"], f.git(&["rev-parse", "v0.1.0^{commit}"]));
        assert!(r["artifacts"]["greeting.txt"]["sha256"].is_string());
        let text = run(&args);
        let shown = String::from_utf8_lossy(&text.stdout);
        assert!(
            shown.contains("not part of the release's baseline"),
            "{shown}"
        );
    }
    // Both at once is refused by the command line itself.
    let out = run(&["v0.1.0", "--recipe", "x", "--recipe-from", "main"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Issue 13: `release --recipe` attests a tag made before the project had a `[build]` table;
/// the evidence keeps the recipe, and an auditor's `verify` (and `verify --rebuild`) reads it.
#[test]
fn a_release_made_before_reprove_is_released_and_verified_with_a_recipe_from_outside() {
    let Some((docker_host, _reg, image)) = busybox_on_loopback() else {
        return;
    };
    let (f, recipe) = old_release(&image);
    let outside = f.dir.path().join("recipe.toml");
    std::fs::write(&outside, &recipe).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
        cmd.current_dir(f.repo()).args(args);
        f.env(&mut cmd);
        cmd.env("DOCKER_HOST", &docker_host);
        cmd.env("REPROVE_DIFFOSCOPE", "");
        cmd.output().unwrap()
    };
    let keep = f.path("k");
    let out = run(&[
        "rebuild",
        "v0.1.0",
        "--recipe",
        outside.to_str().unwrap(),
        "--keep",
        keep.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dist = keep.join("artifacts");
    let out = run(&[
        "key",
        "generate",
        "--no-password",
        "--output",
        f.path("rk").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&[
        "release",
        "v0.1.0",
        "--artifacts",
        dist.to_str().unwrap(),
        "--key",
        f.path("rk.key").to_str().unwrap(),
        "--recipe",
        outside.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("recipe.toml"), "{shown}");
    assert_eq!(
        std::fs::read(f.repo().join("evidence/v0.1.0/recipe.toml")).unwrap(),
        recipe.as_bytes()
    );
    let out = run(&[
        "verify",
        "v0.1.0",
        "--key",
        f.path("rk.pub").to_str().unwrap(),
        "--artifacts",
        dist.to_str().unwrap(),
        "--rebuild",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    // A recipe.toml swapped in the evidence is not the one the signed index vouches for.
    std::fs::write(
        f.repo().join("evidence/v0.1.0/recipe.toml"),
        recipe.replace("build.sh", "evil.sh"),
    )
    .unwrap();
    let out = run(&[
        "verify",
        "v0.1.0",
        "--key",
        f.path("rk.pub").to_str().unwrap(),
        "--artifacts",
        dist.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// Issue 13: an artifact that differs from the published one only in its gzip header is
/// `equivalent` (exit 1) until the recipe's `accept-equivalent` names `gzip`; then it is
/// released with the equivalence on record, and verified — never called reproducible.
#[test]
fn an_artifact_equal_after_normalization_is_equivalent_not_reproducible() {
    let build = "set -eu\nmkdir -p dist\ngzip -c src/greeting.txt > dist/greeting.gz\n";
    let Some(s) = setup(build) else { return };
    let (code, _, err) = s.rebuild(&["v1.0.0", "--keep", &s.path("k")]);
    assert_eq!(code, 0, "{err}");
    // The published file: the same payload, another time in the gzip header.
    let published = s.f.path("published");
    std::fs::create_dir_all(&published).unwrap();
    let mut gz = std::fs::read(s.f.path("k/artifacts/greeting.gz")).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    gz[4..8].copy_from_slice(&1_234_567_890u32.to_le_bytes());
    std::fs::write(published.join("greeting.gz"), &gz).unwrap();
    let p = published.display().to_string();
    let (code, out, err) = s.rebuild(&["v1.0.0", "--artifacts", &p]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("EQUIVALENT  greeting.gz  the same after gzip (NOT accepted"),
        "{out}"
    );
    assert!(out.contains("verdict: equivalent"), "{out}");
    assert!(
        out.contains("add \"gzip\" to `[build] accept-equivalent`"),
        "{out}"
    );

    s.f.write(
        "reprove.toml",
        format!("[project]\nname = \"tiny\"\n\n[build]\nimage = \"{}\"\ncommand = [\"sh\", \"build.sh\"]\nartifacts = [\"dist/*\"]\nenv = {{ GREETING = \"hello\" }}\naccept-equivalent = [\"gzip\"]\n", s.image),
    );
    s.f.commit("accept gzip headers\n\nReviewed-by: R <r@example.com>");
    s.f.tag("v1.1.0");
    let (code, out, err) = s.rebuild(&["v1.1.0", "--artifacts", &p]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("equivalent  greeting.gz  the same after gzip (accepted"),
        "{out}"
    );
    let key = s.path("rk");
    let reprove = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
        cmd.current_dir(s.f.repo()).args(args);
        s.f.env(&mut cmd);
        cmd.env("DOCKER_HOST", &s.docker_host);
        cmd.env("REPROVE_DIFFOSCOPE", "");
        cmd.output().unwrap()
    };
    assert_eq!(
        reprove(&["key", "generate", "--no-password", "--output", &key])
            .status
            .code(),
        Some(0)
    );
    let out = reprove(&[
        "release",
        "v1.1.0",
        "--artifacts",
        &p,
        "--key",
        &format!("{key}.key"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = reprove(&[
        "verify",
        "v1.1.0",
        "--key",
        &format!("{key}.pub"),
        "--artifacts",
        &p,
        "--rebuild",
    ]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}{}", stderr(&out));
    assert!(shown.contains("NOT bit for bit"), "{shown}");
    assert!(shown.contains("`greeting.gz` after gzip"), "{shown}");
    // status says it too.
    let out = reprove(&["status", "--key", &format!("{key}.pub")]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("NOT bit for bit: equivalent after gzip"),
        "{shown}{}",
        stderr(&out)
    );
}
