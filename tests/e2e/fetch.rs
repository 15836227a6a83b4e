//! The fetch phase on real ecosystems: a Rust workspace with crates.io dependencies, built in
//! a Debian image with Rust (bookworm's `rustc-web`/`cargo-web`, made by mmdebstrap), and a
//! Python application with PyPI dependencies locked by `--hash` (bookworm's `python3-pip`), and
//! a Node.js application with npm dependencies locked by `package-lock.json` (bookworm's
//! `nodejs`/`npm`) — each published
//! by a plain `docker run` that fetches as it builds, then rebuilt by reprove with the fetch in
//! its own job and the build offline — bit for bit. The host's CA bundle is what lets the
//! fetch through this machine's TLS-intercepting proxy; the image has none of its own.

use crate::rebuild::engine;
use crate::support::{Fixture, require_tool};
use reprove_oci::testing::TestRegistry;

/// Where the host's CA bundle is (the one the fetch is offered and the publisher mounts).
const HOST_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Projects on the same image take turns. Each holds the image in its own registry and the
/// engine unpacks it on pull; the Rust image is 800 MB, and two at once (registry copies,
/// downloads and unpacked layers) filled the disk of a CI machine. In turn, the second pull
/// finds the layer already unpacked and the first registry is gone. A test drops one project
/// before it makes another on the same image (a second turn on it would wait forever, so it
/// panics instead).
fn one_at_a_time(rootfs_var: &str) -> Turn {
    static TURNS: std::sync::Mutex<Vec<(String, &'static std::sync::Mutex<()>)>> =
        std::sync::Mutex::new(Vec::new());
    HELD.with(|held| {
        assert!(
            !held.borrow().iter().any(|v| v == rootfs_var),
            "this test already holds the turn on {rootfs_var}: drop the first project first"
        );
    });
    let lock = {
        let mut turns = TURNS.lock().unwrap();
        match turns.iter().find(|(v, _)| v == rootfs_var) {
            Some((_, l)) => *l,
            None => {
                let l: &'static std::sync::Mutex<()> = Box::leak(Box::default());
                turns.push((rootfs_var.to_owned(), l));
                l
            }
        }
    };
    // A test that failed while holding its turn poisons it; the next still runs.
    let guard = lock
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    HELD.with(|held| held.borrow_mut().push(rootfs_var.to_owned()));
    Turn {
        _guard: guard,
        var: rootfs_var.to_owned(),
    }
}

thread_local! {
    /// The images whose turn this thread holds: taking one twice would wait forever.
    static HELD: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A project's turn on its image.
struct Turn {
    _guard: std::sync::MutexGuard<'static, ()>,
    var: String,
}

impl Drop for Turn {
    fn drop(&mut self) {
        HELD.with(|held| held.borrow_mut().retain(|v| v != &self.var));
    }
}

/// A real project in a real image on a test registry, committed and tagged `v1.0.0`.
struct Project {
    f: Fixture,
    _reg: TestRegistry,
    /// Held while the project lives: see [`one_at_a_time`].
    _turn: Turn,
    docker_host: String,
    image: String,
}

impl Project {
    /// `rootfs_var` names the image tar `cargo xtask test` builds; `fixture` the project under
    /// `tests/fixtures`; `config` makes its `reprove.toml` from the pinned image.
    fn new(rootfs_var: &str, fixture: &str, config: impl Fn(&str) -> String) -> Option<Project> {
        let docker_host = engine()?;
        if !require_tool("docker-registry") {
            return None;
        }
        let Some(rootfs) = std::env::var_os(rootfs_var) else {
            assert!(
                std::env::var_os("REPROVE_REQUIRE_TOOLS").is_none(),
                "{rootfs_var} is not set; cargo xtask test builds it"
            );
            eprintln!("skipping: no {rootfs_var}");
            return None;
        };
        let turn = one_at_a_time(rootfs_var);
        let reg = TestRegistry::start();
        let layer = std::fs::read(&rootfs).unwrap();
        let digest = reg.push_rootfs("reprove/build", "bookworm", &layer);
        drop(layer);
        let image = format!("{}/reprove/build:bookworm@{digest}", reg.host);
        let f = Fixture::new();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(fixture);
        crate::baseline::copy_dir(&dir, &f.repo());
        f.write(".gitignore", "target/\nbuild/\ndist/\n");
        f.write("reprove.toml", config(&image));
        f.commit("app 1.0\n\nReviewed-by: R <r@example.com>");
        f.tag("v1.0.0");
        Some(Project {
            f,
            _reg: reg,
            _turn: turn,
            docker_host,
            image,
        })
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
        cmd.current_dir(self.f.repo()).args(args);
        self.f.env(&mut cmd);
        cmd.env("DOCKER_HOST", &self.docker_host);
        cmd.env("REPROVE_DIFFOSCOPE", "");
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn p(&self, rel: &str) -> String {
        self.f.path(rel).display().to_string()
    }

    /// The project's ordinary CI build: one `docker run` with network that fetches as it
    /// builds, at the same paths (`/build/src`, `HOME=/tmp`). Copies `artifact` (a path in
    /// the tree) into the published folder it returns.
    fn publish(&self, tag: &str, build: &[&str], artifact: &str) -> String {
        let tree = self.f.path(&format!("ci-{tag}"));
        self.f.git_in(
            self.f.dir.path(),
            &[
                "clone",
                "-q",
                "--branch",
                tag,
                self.f.repo().to_str().unwrap(),
                tree.to_str().unwrap(),
            ],
        );
        let out = std::process::Command::new("docker")
            .env("DOCKER_HOST", &self.docker_host)
            .args(["run", "--rm", "--network", "host", "-e", "HOME=/tmp"])
            .args(["-e", &format!("PIP_CERT={HOST_CA}")])
            .args(["--tmpfs", "/tmp:rw,exec,mode=1777"])
            .arg("--volume")
            .arg(format!("{HOST_CA}:{HOST_CA}:ro"))
            .arg("--volume")
            .arg(format!("{}:/build/src", tree.display()))
            .args(["--workdir", "/build/src", &self.image])
            .args(build)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the ordinary build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dist = self.f.path(&format!("published-{tag}"));
        std::fs::create_dir_all(&dist).unwrap();
        let name = artifact.rsplit('/').next().unwrap();
        std::fs::copy(tree.join(artifact), dist.join(name)).unwrap();
        dist.display().to_string()
    }
}

impl Project {
    /// Releases `v1.0.0` against the published folder `dist` with a fresh key (the fetch on
    /// the host network, `cache` flags as given), then verifies it as an auditor: soup-closure
    /// must find `closes` — "the N package(s) … are the SOUP register of <lockfile>".
    fn release_and_verify(&self, dist: &str, cache: &[&str], closes: &str) {
        let (code, _, err) =
            self.run(&["key", "generate", "--no-password", "--output", &self.p("k")]);
        assert_eq!(code, 0, "{err}");
        let key = self.p("k.key");
        let mut release = vec![
            "release",
            "v1.0.0",
            "--artifacts",
            dist,
            "--key",
            &key,
            "--fetch-network",
            "host",
        ];
        release.extend_from_slice(cache);
        let (code, out, err) = self.run(&release);
        assert_eq!(code, 0, "{out}{err}");
        let (code, out, err) = self.run(&[
            "verify",
            "v1.0.0",
            "--key",
            &self.p("k.pub"),
            "--artifacts",
            dist,
        ]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains(closes), "{out}");
    }
}

/// The Rust workspace with crates.io dependencies, built in bookworm's `rustc-web`.
fn rust() -> Option<Project> {
    // The fetch also proves cargo's unpacked sources are in memory (a tmpfs over the store's
    // `src`), not written to disk: on disk they made the fetch six times slower.
    Project::new("REPROVE_TEST_RUST_ROOTFS", "cargo-workspace", |image| {
        recipe(
            image,
            "cargo fetch --locked && grep -q ' /tmp/.cargo/registry/src tmpfs ' /proc/mounts",
        )
    })
}

fn recipe(image: &str, fetch: &str) -> String {
    format!(
        "[project]\nname = \"app\"\n\n[build]\nimage = \"{image}\"\ncommand = \"cargo build --release --locked --offline\"\nartifacts = [\"target/release/app\"]\n\n[build.fetch]\ncommand = \"{fetch}\"\nstore = \"/tmp/.cargo/registry\"\nallow = [\"index.crates.io\", \"static.crates.io\"]\n"
    )
}

#[test]
fn a_rust_workspace_with_crates_io_dependencies_rebuilds_offline_bit_for_bit() {
    let Some(r) = rust() else { return };
    assert!(
        std::path::Path::new(HOST_CA).is_file(),
        "the host has no CA bundle at {HOST_CA}"
    );
    let dist = r.publish(
        "v1.0.0",
        &["cargo", "build", "--release", "--locked"],
        "target/release/app",
    );
    let cache = r.p("fetch-cache");
    // Cold: the fetch job runs (host network, host CA bundle), the store is checked, the
    // build runs with --network none.
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--fetch-network",
        "host",
        "--fetch-cache",
        &cache,
        "--keep",
        &r.p("kept"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("fetch: 4 package(s) checked against Cargo.lock"),
        "{out}"
    );
    assert!(out.contains("CA bundle sha256:"), "{out}");
    assert!(out.contains("match     app  sha256:"), "{out}");
    assert!(out.contains("verdict: reproducible"), "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.f.path("kept/rebuild-report.json")).unwrap())
            .unwrap();
    assert_eq!(report["network"], "none");
    assert_eq!(report["fetch"]["network"], "host");
    assert_eq!(report["fetch"]["fromCache"], false);
    // cargo's hosts, seen by reprove's fetch proxy: the index, and the download host its
    // `config.json` names (static.crates.io; a mirror may serve both from the index host).
    let hosts = contacted(&report);
    assert!(
        hosts.contains(&"index.crates.io:443".to_owned()),
        "{hosts:?}"
    );
    assert!(
        hosts
            .iter()
            .all(|h| ["index.crates.io:443", "static.crates.io:443"].contains(&h.as_str())),
        "{hosts:?}"
    );
    let purls: Vec<&str> = report["fetch"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["purl"].as_str().unwrap())
        .collect();
    assert_eq!(
        purls,
        [
            "pkg:cargo/cfg-if@1.0.5",
            "pkg:cargo/itoa@1.0.19",
            "pkg:cargo/memchr@2.8.3",
            "pkg:cargo/ryu@1.0.23"
        ]
    );
    assert!(r.f.path("kept/fetch.log").is_file());

    // Warm: the cached store, checked again, and no fetch job at all — proven by giving the
    // fetch a network that cannot reach anything.
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--fetch-network",
        "none",
        "--fetch-cache",
        &cache,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("from the cache, no network"), "{out}");

    // A poisoned cache is not evidence: it fails its checks and is fetched again.
    for entry in std::fs::read_dir(&cache).unwrap() {
        let p = entry.unwrap().path();
        let mut bytes = std::fs::read(&p).unwrap();
        let at = bytes.windows(11).position(|w| w == b"itoa-1.0.19").unwrap();
        // A byte inside the first crate's data, well past its header.
        let data = bytes.len().min(at + 2048);
        bytes[data] ^= 0xff;
        std::fs::write(&p, bytes).unwrap();
    }
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--fetch-network",
        "host",
        "--fetch-cache",
        &cache,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("from the cache"), "{out}");

    // Release and verify: the provenance lists the packages, soup-closure holds.
    r.release_and_verify(
        &dist,
        &["--fetch-cache", &cache],
        "the 4 package(s) the build was given are the SOUP register of Cargo.lock",
    );
}

#[test]
fn a_tampered_crate_in_the_store_is_named_and_never_built() {
    let Some(r) = rust() else { return };
    // A compromised mirror or proxy: the fetch succeeds, one crate's bytes are not the locked
    // ones. The build never runs.
    r.f.write(
        "reprove.toml",
        recipe(
            &r.image,
            "cargo fetch --locked && for f in /tmp/.cargo/registry/cache/*/itoa-1.0.19.crate; do printf tampered >> $f; done",
        ),
    );
    r.f.commit("tampered fetch\n\nReviewed-by: R <r@example.com>");
    r.f.tag("v1.0.1");
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.1",
        "--fetch-network",
        "host",
        "--no-fetch-cache",
        "--keep",
        &r.p("k"),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("not built `v1.0.1`"), "{out}");
    assert!(out.contains("REJECTED  dependency-mismatch"), "{out}");
    assert!(out.contains("pkg:cargo/itoa@1.0.19"), "{out}");
    assert!(out.contains("verdict: inputs-rejected"), "{out}");
    assert!(
        !r.f.path("k/build.log").exists(),
        "the build must not have run"
    );
    // A crate the lockfile does not name, planted beside the real ones, is refused too.
    r.f.write(
        "reprove.toml",
        recipe(
            &r.image,
            "cargo fetch --locked && cp /tmp/.cargo/registry/cache/*/ryu-1.0.23.crate /tmp/.cargo/registry/cache/index.crates.io-1949cf8c6b5b557f/evil-0.1.0.crate",
        ),
    );
    r.f.commit("planted crate\n\nReviewed-by: R <r@example.com>");
    r.f.tag("v1.0.2");
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.2",
        "--fetch-network",
        "host",
        "--no-fetch-cache",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("dependency-unlocked"), "{out}");
    assert!(out.contains("evil-0.1.0.crate"), "{out}");
}

/// The Python application: `pip install --require-hashes` from PyPI in CI; in the rebuild
/// from a wheelhouse that `pip download` filled in the fetch job.
fn python(fetch: &str) -> Option<Project> {
    Project::new("REPROVE_TEST_PYTHON_ROOTFS", "python-app", |image| {
        python_recipe(image, fetch)
    })
}

/// The hosts the fetch proxy let through, as `host:port`, from a rebuild report; every one
/// of them allowed.
fn contacted(report: &serde_json::Value) -> Vec<String> {
    let hosts = report["fetch"]["hostsContacted"]
        .as_array()
        .unwrap_or_else(|| panic!("no hostsContacted in {report}"));
    hosts
        .iter()
        .map(|h| {
            assert_eq!(h["allowed"], true, "{h}");
            assert_eq!(h["method"], "connect", "{h}");
            format!("{}:{}", h["host"].as_str().unwrap(), h["port"])
        })
        .collect()
}

#[test]
fn the_fetch_reaches_only_allowed_hosts_and_the_build_cannot_change_the_store() {
    // `allow` without the host pip downloads wheels from: the proxy refuses it, the fetch
    // fails, and the error names the host.
    let Some(r) = Project::new("REPROVE_TEST_PYTHON_ROOTFS", "python-app", |image| {
        python_recipe(image, PIP_DOWNLOAD).replace(
            "allow = [\"pypi.org\", \"files.pythonhosted.org\"]",
            "allow = [\"pypi.org\"]",
        )
    }) else {
        return;
    };
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.0",
        "--fetch-network",
        "host",
        "--no-fetch-cache",
        "--keep",
        &r.p("k"),
    ]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("reprove's fetch proxy refused `files.pythonhosted.org:443`"),
        "{err}"
    );
    let log = std::fs::read_to_string(r.f.path("k/fetch.log")).unwrap();
    assert!(
        log.contains("[reprove: the fetch proxy refused files.pythonhosted.org:443"),
        "{log}"
    );

    // The build is given the checked store read-only: a build that plants a file in it (to
    // poison what a later build or the cache would take) fails to. (The first project gives
    // up its turn on the image first.)
    drop(r);
    let Some(r) = Project::new("REPROVE_TEST_PYTHON_ROOTFS", "python-app", |image| {
        python_recipe(image, PIP_DOWNLOAD).replace(
            "command = \"sh build.sh\"",
            "command = \"sh build.sh && ! touch /tmp/wheels/planted.whl && ! rm /tmp/wheels/idna-3.7-py3-none-any.whl\"",
        )
    }) else {
        return;
    };
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.0",
        "--fetch-network",
        "host",
        "--no-fetch-cache",
    ]);
    assert_eq!(code, 0, "the build could write the store: {out}{err}");
    assert!(out.contains("verdict: built"), "{out}");
}

const PIP_DOWNLOAD: &str = "pip download --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements.txt -d /tmp/wheels";

fn python_recipe(image: &str, fetch: &str) -> String {
    format!(
        "[project]\nname = \"app\"\n\n[build]\nimage = \"{image}\"\ncommand = \"sh build.sh\"\nartifacts = [\"dist/app.tar\"]\nenv = {{ PIP_FLAGS = \"--no-index --find-links /tmp/wheels\" }}\n\n[build.fetch]\ncommand = \"{fetch}\"\nstore = \"/tmp/wheels\"\nallow = [\"pypi.org\", \"files.pythonhosted.org\"]\n"
    )
}

#[test]
fn a_python_app_with_hashed_requirements_rebuilds_offline_bit_for_bit() {
    let Some(r) = python(PIP_DOWNLOAD) else {
        return;
    };
    let dist = r.publish("v1.0.0", &["sh", "build.sh"], "dist/app.tar");
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--fetch-network",
        "host",
        "--no-fetch-cache",
        "--keep",
        &r.p("kept"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("fetch: 3 package(s) checked against requirements.txt"),
        "{out}"
    );
    assert!(out.contains("match     app.tar  sha256:"), "{out}");
    assert!(out.contains("verdict: reproducible"), "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.f.path("kept/rebuild-report.json")).unwrap())
            .unwrap();
    assert_eq!(report["network"], "none");
    let files: Vec<&str> = report["fetch"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "attrs-23.2.0-py3-none-any.whl",
            "idna-3.7-py3-none-any.whl",
            "six-1.16.0-py2.py3-none-any.whl"
        ]
    );
    assert_eq!(
        contacted(&report),
        ["files.pythonhosted.org:443", "pypi.org:443"]
    );

    // Release and verify: the wheels are the SOUP register (whose first hash is an sdist's
    // for two of them: any file the requirement accepts is the component).
    r.release_and_verify(
        &dist,
        &["--no-fetch-cache"],
        "the 3 package(s) the build was given are the SOUP register of requirements.txt",
    );
}

#[test]
fn a_tampered_wheel_is_named_and_never_built() {
    let fetch =
        format!("{PIP_DOWNLOAD} && printf tampered >> /tmp/wheels/idna-3.7-py3-none-any.whl");
    let Some(r) = python(&fetch) else { return };
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.0",
        "--fetch-network",
        "host",
        "--no-fetch-cache",
        "--keep",
        &r.p("k"),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("REJECTED  dependency-mismatch"), "{out}");
    assert!(out.contains("pkg:pypi/idna@3.7"), "{out}");
    assert!(out.contains("verdict: inputs-rejected"), "{out}");
    assert!(
        !r.f.path("k/build.log").exists(),
        "the build must not have run"
    );
}

/// The Node.js application: `npm ci` from the registry in CI; in the rebuild `npm ci --offline`
/// from the npm cache the fetch job filled (`~/.npm`, HOME=/tmp).
fn node(fetch: &str) -> Option<Project> {
    Project::new("REPROVE_TEST_NODEJS_ROOTFS", "node-app", |image| {
        format!(
            "[project]\nname = \"app\"\n\n[build]\nimage = \"{image}\"\ncommand = \"sh build.sh\"\nartifacts = [\"dist/app.tar\"]\nenv = {{ NPM_FLAGS = \"--offline\" }}\n\n[build.fetch]\ncommand = \"{fetch}\"\nstore = \"/tmp/.npm\"\nallow = [\"registry.npmjs.org\"]\n"
        )
    })
}

const NPM_CI: &str = "npm ci --ignore-scripts --no-audit --no-fund";

#[test]
fn a_node_app_with_a_package_lock_rebuilds_offline_bit_for_bit() {
    let Some(r) = node(NPM_CI) else { return };
    let dist = r.publish("v1.0.0", &["sh", "build.sh"], "dist/app.tar");
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--fetch-network",
        "host",
        "--no-fetch-cache",
        "--keep",
        &r.p("kept"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("fetch: 3 package(s) checked against package-lock.json"),
        "{out}"
    );
    assert!(out.contains("match     app.tar  sha256:"), "{out}");
    assert!(
        out.contains("hosts contacted (through reprove's proxy): registry.npmjs.org:443"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.f.path("kept/rebuild-report.json")).unwrap())
            .unwrap();
    assert_eq!(contacted(&report), ["registry.npmjs.org:443"]);
    r.release_and_verify(
        &dist,
        &["--no-fetch-cache"],
        "the 3 package(s) the build was given are the SOUP register of package-lock.json",
    );
}

#[test]
fn a_poisoned_npm_cache_entry_is_named_and_never_built() {
    // A compromised registry or proxy: the cache holds other bytes under a locked digest.
    let fetch =
        format!("{NPM_CI} && printf x >> $(find /tmp/.npm/_cacache/content-v2 -type f | head -1)");
    let Some(r) = node(&fetch) else { return };
    let (code, out, err) = r.run(&[
        "rebuild",
        "v1.0.0",
        "--fetch-network",
        "host",
        "--no-fetch-cache",
        "--keep",
        &r.p("k"),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("REJECTED  dependency-mismatch"), "{out}");
    assert!(out.contains("pkg:npm/"), "{out}");
    assert!(out.contains("verdict: inputs-rejected"), "{out}");
    assert!(
        !r.f.path("k/build.log").exists(),
        "the build must not have run"
    );
}
