//! `cargo xtask bench`: each benchmark is a ratio against a reference tool measured in the
//! same run, on the same data, best of several runs (page cache warm for both).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::util::{cargo, ensure_tools, git, say, target};

const RUNS: usize = 3;

/// xorshift64*: fast, deterministic filler so generated data is identical on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn time_best(mut make: impl FnMut() -> Command) -> Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let mut cmd = make();
        cmd.stdout(Stdio::null());
        let start = Instant::now();
        let status = cmd
            .status()
            .with_context(|| format!("failed to run `{}`", crate::util::describe(&cmd)))?;
        let took = start.elapsed();
        if !status.success() {
            bail!("`{}` failed", crate::util::describe(&cmd));
        }
        best = best.min(took);
    }
    Ok(best)
}

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

pub fn run(args: &[String]) -> Result<()> {
    ensure_tools(&[
        ("git", "git"),
        ("openssl", "openssl"),
        ("/usr/bin/time", "time"),
        ("/usr/bin/docker-registry", "docker-registry"),
        ("skopeo", "skopeo"),
        ("dockerd", "docker.io"),
        ("/bin/busybox", "busybox-static"),
        ("curl", "curl"),
    ])?;
    cargo(&["build", "--release", "--quiet", "-p", "reprove-cli"], &[])?;
    cargo(
        &[
            "build",
            "--release",
            "--quiet",
            "-p",
            "reprove-digest",
            "--example",
            "sha256sum",
        ],
        &[],
    )?;
    cargo(
        &[
            "build",
            "--release",
            "--quiet",
            "-p",
            "reprove-build",
            "--example",
            "export",
        ],
        &[],
    )?;
    cargo(
        &[
            "build",
            "--release",
            "--quiet",
            "-p",
            "reprove-build",
            "--example",
            "layout",
        ],
        &[],
    )?;
    let which = args.first().map(String::as_str).unwrap_or("all");
    let dir = target().join("bench");
    std::fs::create_dir_all(&dir)?;
    let mut results = Vec::new();
    if matches!(which, "all" | "sha256") {
        results.push(sha256(&dir)?);
    }
    if matches!(which, "all" | "baseline") {
        results.push(baseline(&dir)?);
    }
    if matches!(which, "all" | "images") {
        results.push(images(&dir)?);
    }
    if matches!(which, "all" | "rebuild" | "layout") {
        results.push(layout(&dir)?);
    }
    if matches!(which, "all" | "rebuild") {
        results.push(export(&dir)?);
        results.push(rebuild(&dir)?);
    }
    if matches!(which, "all" | "fetch") {
        results.push(fetch(&dir)?);
    }
    if matches!(which, "all" | "verify") {
        results.push(verify(&dir)?);
    }
    if matches!(which, "all" | "status") {
        results.push(status(&dir)?);
    }
    if matches!(which, "all" | "registry") {
        results.push(status_registry(&dir)?);
        results.push(evidence_transfer(&dir)?);
    }
    say("\nxtask bench results");
    for r in &results {
        say(&format!("  {r}"));
    }
    Ok(())
}

/// Our single-file sha256 throughput against `openssl dgst -sha256`, one core each.
fn sha256(dir: &Path) -> Result<String> {
    let file = dir.join("sha256-1GiB.bin");
    let size: u64 = 1 << 30;
    if std::fs::metadata(&file).map(|m| m.len()).ok() != Some(size) {
        say("xtask: generating a 1 GiB file");
        let mut rng = Rng(0x5EED);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..(size >> 20) {
            rng.fill(&mut buf);
            out.write_all(&buf)?;
        }
        out.flush()?;
    }
    let ours_bin = target().join("release").join("examples").join("sha256sum");
    // Warm the page cache so both read from memory.
    time_best(|| {
        let mut c = Command::new("cat");
        c.arg(&file);
        c
    })?;
    let openssl = time_best(|| {
        let mut c = Command::new("openssl");
        c.args(["dgst", "-sha256"]).arg(&file);
        c
    })?;
    let ours = time_best(|| {
        let mut c = Command::new(&ours_bin);
        c.arg(&file);
        c
    })?;
    let ratio = openssl.as_secs_f64() / ours.as_secs_f64();
    Ok(format!(
        "sha256, 1 GiB, one core: reprove {:.2} GB/s, openssl dgst {:.2} GB/s → throughput ratio {ratio:.3} (target ≥ 0.95) {}",
        gbps(size, ours),
        gbps(size, openssl),
        if ratio >= 0.95 { "PASS" } else { "FAIL" }
    ))
}

/// A published image against a rebuilt OCI layout tar of 1 GiB (one random layer): what
/// `release --artifacts oci://…` adds to a rebuild — every blob hashed, the manifest found and
/// checked whole — against `openssl dgst -sha256` of the same tar, one pass over the bytes.
fn layout(dir: &Path) -> Result<String> {
    let tar_path = dir.join("layout-1GiB.oci.tar");
    let digest_path = dir.join("layout-1GiB.digest");
    let size: u64 = 1 << 30;
    if !(tar_path.exists() && digest_path.exists()) {
        say("xtask: generating a 1 GiB OCI layout");
        let tree = dir.join("layout-tree");
        let _ = std::fs::remove_dir_all(&tree);
        let blobs = tree.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs)?;
        let layer_tmp = tree.join("layer.tmp");
        let mut rng = Rng(0x1A7E);
        {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&layer_tmp)?);
            let mut buf = vec![0u8; 1 << 20];
            for _ in 0..(size >> 20) {
                rng.fill(&mut buf);
                out.write_all(&buf)?;
            }
            out.flush()?;
        }
        let (layer, _) = reprove_digest::sha256_file(&layer_tmp)?;
        std::fs::rename(&layer_tmp, blobs.join(layer.hex()))?;
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#
        );
        let config_digest = reprove_digest::sha256_bytes(config.as_bytes());
        std::fs::write(blobs.join(config_digest.hex()), &config)?;
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{size}}}]}}"#,
            config.len()
        );
        let manifest_digest = reprove_digest::sha256_bytes(manifest.as_bytes());
        std::fs::write(blobs.join(manifest_digest.hex()), &manifest)?;
        std::fs::write(tree.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
        std::fs::write(
            tree.join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{}}}]}}"#,
                manifest.len()
            ),
        )?;
        let status = Command::new("tar")
            .arg("-cf")
            .arg(&tar_path)
            .arg("-C")
            .arg(&tree)
            .args(["oci-layout", "index.json", "blobs"])
            .status()?;
        if !status.success() {
            bail!("tar failed");
        }
        std::fs::remove_dir_all(&tree)?;
        std::fs::write(&digest_path, manifest_digest.to_string())?;
    }
    let digest = std::fs::read_to_string(&digest_path)?;
    let ours_bin = target().join("release").join("examples").join("layout");
    let check = Command::new(&ours_bin)
        .arg(&tar_path)
        .arg(&digest)
        .arg("application/vnd.oci.image.manifest.v1+json")
        .output()?;
    let verdict = String::from_utf8_lossy(&check.stdout);
    if !verdict.starts_with("Match") {
        bail!("the benchmark's layout does not hold its image: {verdict}");
    }
    time_best(|| {
        let mut c = Command::new("cat");
        c.arg(&tar_path);
        c
    })?;
    let reference = time_best(|| {
        let mut c = Command::new("openssl");
        c.args(["dgst", "-sha256"]).arg(&tar_path);
        c
    })?;
    let ours = time_best(|| {
        let mut c = Command::new(&ours_bin);
        c.arg(&tar_path)
            .arg(&digest)
            .arg("application/vnd.oci.image.manifest.v1+json");
        c
    })?;
    let ratio = ours.as_secs_f64() / reference.as_secs_f64();
    Ok(format!(
        "image against a rebuilt OCI layout, 1 GiB: reprove {:.2} s vs openssl dgst -sha256 of the tar {:.2} s → time ratio {ratio:.3} (target ≤ 1.25) {}",
        ours.as_secs_f64(),
        reference.as_secs_f64(),
        if ratio <= 1.25 { "PASS" } else { "FAIL" }
    ))
}

const FILES: usize = 2000;
const TOTAL: u64 = 512 << 20;

/// A 512 MiB / 2,000-file repository: many small files and a few large ones, half of them
/// compressible text, packed as a clone would be.
fn bench_repo(dir: &Path) -> Result<PathBuf> {
    let repo = dir.join("repo-512MiB");
    let marker = repo.join(".git").join("reprove-bench-ready");
    if marker.exists() {
        return Ok(repo);
    }
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(&repo)?;
    say("xtask: generating the 512 MiB / 2,000-file repository (once; reused afterwards)");
    let mut rng = Rng(0xBA5E);
    // 1,900 files of 4–124 KiB, the rest of the bytes spread over 100 large files.
    let mut sizes: Vec<u64> = (0..1900)
        .map(|_| 4096 + (rng.next() % (120 * 1024)))
        .collect();
    let small: u64 = sizes.iter().sum();
    let large = (TOTAL - small) / 100;
    sizes.extend(std::iter::repeat_n(large, FILES - 1900));
    let adjust = TOTAL - sizes.iter().sum::<u64>();
    if let Some(last) = sizes.last_mut() {
        *last += adjust;
    }
    let text: Vec<u8> =
        b"The quick brown fox jumps over the lazy dog; configuration item under control.\n"
            .iter()
            .copied()
            .cycle()
            .take(1 << 20)
            .collect();
    for (i, size) in sizes.iter().enumerate() {
        let sub = repo.join(format!("d{:02}", i % 40));
        std::fs::create_dir_all(&sub)?;
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(sub.join(format!("f{i:04}.dat")))?);
        let mut left = *size;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            if i % 2 == 0 {
                rng.fill(&mut buf[..n]);
                f.write_all(&buf[..n])?;
            } else {
                let stamp = format!("{i}:{left}\n");
                f.write_all(&text[..n.saturating_sub(stamp.len())])?;
                f.write_all(&stamp.as_bytes()[..n.min(stamp.len())])?;
            }
            left -= n as u64;
        }
        f.flush()?;
    }
    let home = dir.join("home");
    std::fs::create_dir_all(&home)?;
    git(&repo, &home, 1_700_000_000, &["init", "-q", "-b", "main"])?;
    git(&repo, &home, 1_700_000_000, &["add", "-A"])?;
    git(
        &repo,
        &home,
        1_700_000_000,
        &["commit", "-q", "-m", "bench data"],
    )?;
    git(
        &repo,
        &home,
        1_700_000_000,
        &["tag", "-a", "v1.0.0", "-m", "bench"],
    )?;
    git(&repo, &home, 1_700_000_000, &["gc", "-q"])?;
    std::fs::write(&marker, b"")?;
    Ok(repo)
}

/// Peak resident memory of the process itself (not its children), from `VmHWM`, polled until
/// it exits.
fn own_peak_kib(cmd: &mut Command) -> Result<u64> {
    let mut child = cmd.stdout(Stdio::null()).spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(v) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(v);
        }
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(peak)
}

/// Peak resident memory of the command and the children it waited for (`/usr/bin/time`).
fn max_rss_kib(cmd: &mut Command) -> Result<u64> {
    let mut t = Command::new("/usr/bin/time");
    t.args(["-f", "%M"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(d) = cmd.get_current_dir() {
        t.current_dir(d);
    }
    let out = t.stdout(Stdio::null()).output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .context("could not read the peak memory from /usr/bin/time")
}

/// `reprove baseline` against the least work standard tools need to do the same: read every
/// blob (`git archive`) plus sha256 of every file on all cores (`openssl dgst` via `xargs -P`).
fn baseline(dir: &Path) -> Result<String> {
    let repo = bench_repo(dir)?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .to_string();
    let reprove = target().join("release").join("reprove");
    let archive = time_best(|| {
        let mut c = Command::new("git");
        c.current_dir(&repo).args(["archive", "v1.0.0"]);
        c
    })?;
    let hashing = time_best(|| {
        let mut c = Command::new("sh");
        c.current_dir(&repo).args([
            "-c",
            &format!("find d* -type f -print0 | xargs -0 -P {cores} -n 100 openssl dgst -sha256"),
        ]);
        c
    })?;
    // reprove checks every object it reads against its id (SHA-1 with collision detection);
    // `git archive` and `openssl` do not. The same assurance from git is `git fsck --full`
    // (the bench repository is one commit: fsck checks the very objects the baseline reads).
    let fsck = time_best(|| {
        let mut c = Command::new("git");
        c.current_dir(&repo)
            .args(["fsck", "--full", "--no-dangling", "--no-progress"]);
        c
    })?;
    let ours = time_best(|| {
        let mut c = Command::new(&reprove);
        c.current_dir(&repo)
            .args(["baseline", "v1.0.0", "--format", "json"]);
        c
    })?;
    let mut c = Command::new(&reprove);
    c.current_dir(&repo)
        .args(["baseline", "v1.0.0", "--format", "json"]);
    let rss = max_rss_kib(&mut c)?;
    let mut c = Command::new(&reprove);
    c.current_dir(&repo)
        .args(["baseline", "v1.0.0", "--format", "json"]);
    let own = own_peak_kib(&mut c)?;
    let reference = fsck + archive + hashing;
    let ratio = ours.as_secs_f64() / reference.as_secs_f64();
    let unchecked = ours.as_secs_f64() / (archive + hashing).as_secs_f64();
    Ok(format!(
        "baseline, 512 MiB / 2,000 files, {cores} cores: reprove {:.2} s (peak RSS: reprove {} MiB, with its git readers {} MiB — git maps the pack) vs git fsck --full {:.2} s + git archive {:.2} s + openssl dgst -P{cores} {:.2} s = {:.2} s → time ratio {ratio:.3} (target ≤ 1.0) {} [without fsck, objects unchecked: ratio {unchecked:.3}]",
        ours.as_secs_f64(),
        own.div_ceil(1024),
        rss.div_ceil(1024),
        fsck.as_secs_f64(),
        archive.as_secs_f64(),
        hashing.as_secs_f64(),
        reference.as_secs_f64(),
        if ratio <= 1.0 { "PASS" } else { "FAIL" }
    ))
}

/// `reprove images check` of 200 pinned references against a loopback registry, against
/// `skopeo inspect --raw` of the same references one after another (the lightest skopeo call:
/// one manifest fetch per reference, where reprove makes two — by digest and by tag).
fn images(dir: &Path) -> Result<String> {
    const N: usize = 200;
    let reg = reprove_oci::testing::TestRegistry::start();
    let mut refs = Vec::with_capacity(N);
    for i in 0..N {
        let repo = format!("bench/app{i}");
        let (digest, _) = reg.push_image(&repo, Some("1.0"), &format!("image {i}"), "linux/amd64");
        refs.push(format!("{}/{repo}:1.0@{digest}", reg.host));
    }
    let work = dir.join("images");
    std::fs::create_dir_all(&work)?;
    let list = work.join("refs.yml");
    let yaml: String = refs.iter().map(|r| format!("- image: {r}\n")).collect();
    std::fs::write(&list, yaml)?;
    let reprove = target().join("release").join("reprove");
    let ours = time_best(|| {
        let mut c = Command::new(&reprove);
        c.args(["images", "check"]).arg(&list);
        c
    })?;
    let skopeo = {
        let start = Instant::now();
        for r in &refs {
            let status = Command::new("skopeo")
                .args(["inspect", "--raw", "--tls-verify=false"])
                // skopeo cannot parse tag+digest references; give it the digest form.
                .arg(format!("docker://{}", r.replacen(":1.0@", "@", 1)))
                .stdout(Stdio::null())
                .status()
                .context("failed to run skopeo")?;
            if !status.success() {
                bail!("skopeo inspect {r} failed");
            }
        }
        start.elapsed()
    };
    let ratio = ours.as_secs_f64() / skopeo.as_secs_f64();
    Ok(format!(
        "images check, {N} pinned references, loopback registry: reprove {:.3} s vs skopeo inspect --raw one by one {:.2} s → time ratio {ratio:.3} (target ≤ 0.1) {}",
        ours.as_secs_f64(),
        skopeo.as_secs_f64(),
        if ratio <= 0.1 { "PASS" } else { "FAIL" }
    ))
}

/// Source export (git archive stream, checked unpack, digest) against `git archive | tar -x`
/// of the same 512 MiB tag.
fn export(dir: &Path) -> Result<String> {
    let repo = bench_repo(dir)?;
    let ours_bin = target().join("release").join("examples").join("export");
    let out = dir.join("export-out");
    let fresh = |d: &Path| {
        let _ = std::fs::remove_dir_all(d);
        let _ = std::fs::create_dir_all(d);
    };
    let ours = time_best(|| {
        fresh(&out);
        let mut c = Command::new(&ours_bin);
        c.arg(&repo).arg("v1.0.0").arg(&out);
        c
    })?;
    let reference = time_best(|| {
        fresh(&out);
        let mut c = Command::new("sh");
        c.args([
            "-c",
            &format!(
                "git -C '{}' archive v1.0.0 | tar -x -C '{}'",
                repo.display(),
                out.display()
            ),
        ]);
        c
    })?;
    let _ = std::fs::remove_dir_all(&out);
    // The export checks every object against its id and the unpacked tree against the commit;
    // `git fsck --full` is git's way to the first half.
    let fsck = time_best(|| {
        let mut c = Command::new("git");
        c.current_dir(&repo)
            .args(["fsck", "--full", "--no-dangling", "--no-progress"]);
        c
    })?;
    let ratio = ours.as_secs_f64() / (reference + fsck).as_secs_f64();
    let unchecked = ours.as_secs_f64() / reference.as_secs_f64();
    Ok(format!(
        "source export, 512 MiB / 2,000 files: reprove {:.2} s vs git fsck --full {:.2} s + git archive | tar -x {:.2} s → time ratio {ratio:.3} [without fsck, objects unchecked: ratio {unchecked:.3}]",
        ours.as_secs_f64(),
        fsck.as_secs_f64(),
        reference.as_secs_f64()
    ))
}

/// `reprove rebuild` of a 10-second build against a bare `docker run` of the same image and
/// command, image already pulled, on an engine of our own.
fn rebuild(dir: &Path) -> Result<String> {
    let engine = crate::util::Dockerd::start()?;
    let reg = reprove_oci::testing::TestRegistry::start();
    let digest = reg.push_rootfs("bench/busybox", "1", &reprove_oci::testing::busybox_layer());
    let image = format!("{}/bench/busybox@{digest}", reg.host);
    let repo = dir.join("rebuild-repo");
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(&repo)?;
    let script = "sleep 10; mkdir -p dist; echo done > dist/out.txt";
    std::fs::write(
        repo.join("reprove.toml"),
        format!(
            "[build]\nimage = \"{image}\"\ncommand = [\"sh\", \"-c\", \"{script}\"]\nartifacts = [\"dist/*\"]\n"
        ),
    )?;
    let home = dir.join("home");
    std::fs::create_dir_all(&home)?;
    git(&repo, &home, 1_700_000_000, &["init", "-q", "-b", "main"])?;
    git(&repo, &home, 1_700_000_000, &["add", "-A"])?;
    git(
        &repo,
        &home,
        1_700_000_000,
        &["commit", "-q", "-m", "bench"],
    )?;
    git(&repo, &home, 1_700_000_000, &["tag", "v1"])?;
    let docker = |args: &[&str]| {
        let mut c = Command::new("docker");
        c.args(["-H", &engine.host]).args(args);
        c
    };
    crate::util::run(&mut docker(&["pull", "--quiet", &image]))?;
    let reprove = target().join("release").join("reprove");
    let once = |mut c: Command| -> Result<Duration> {
        c.stdout(Stdio::null());
        let start = Instant::now();
        let st = c.status()?;
        if !st.success() {
            bail!("`{}` failed", crate::util::describe(&c));
        }
        Ok(start.elapsed())
    };
    let mut ours = Duration::MAX;
    let mut copied = Duration::MAX;
    let mut bare = Duration::MAX;
    for _ in 0..2 {
        let mut c = Command::new(&reprove);
        c.current_dir(&repo)
            .args(["rebuild", "v1"])
            .env("DOCKER_HOST", &engine.host);
        ours = ours.min(once(c)?);
        // As for a remote engine: the files copied in and out through the engine's API.
        let mut c = Command::new(&reprove);
        c.current_dir(&repo)
            .args(["rebuild", "v1", "--remote-engine"])
            .env("DOCKER_HOST", &engine.host);
        copied = copied.min(once(c)?);
        bare = bare.min(once(docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "sh",
            "-c",
            script,
        ]))?);
    }
    let ratio = ours.as_secs_f64() / bare.as_secs_f64();
    let copy_ratio = copied.as_secs_f64() / bare.as_secs_f64();
    Ok(format!(
        "rebuild of a 10-second build: reprove {:.2} s vs bare docker run {:.2} s → time ratio {ratio:.3} (target ≤ 1.05) {}\n  rebuild of the same, files copied as for a remote engine (--remote-engine): {:.2} s → time ratio {copy_ratio:.3} (target ≤ 1.10) {}",
        ours.as_secs_f64(),
        bare.as_secs_f64(),
        if ratio <= 1.05 { "PASS" } else { "FAIL" },
        copied.as_secs_f64(),
        if copy_ratio <= 1.10 { "PASS" } else { "FAIL" }
    ))
}

/// `reprove verify` of a release with 1 GiB of artifacts, offline, against what the same
/// checks cost with openssl: the sha256 of every artifact and evidence file, and the three
/// ECDSA signatures (baseline, provenance, index) over their DSSE PAE.
fn verify(dir: &Path) -> Result<String> {
    let engine = crate::util::Dockerd::start()?;
    let reg = reprove_oci::testing::TestRegistry::start();
    let digest = reg.push_rootfs("bench/busybox", "1", &reprove_oci::testing::busybox_layer());
    let image = format!("{}/bench/busybox@{digest}", reg.host);
    let work = dir.join("verify");
    let _ = std::fs::remove_dir_all(&work);
    let repo = work.join("repo");
    std::fs::create_dir_all(&repo)?;
    let script = "mkdir -p dist; dd if=/dev/zero of=dist/big.bin bs=1M count=1024 2>/dev/null; for i in 1 2 3 4; do echo $i > dist/small$i.txt; done";
    std::fs::write(
        repo.join("reprove.toml"),
        format!(
            "[build]\nimage = \"{image}\"\ncommand = [\"sh\", \"-c\", \"{script}\"]\nartifacts = [\"dist/*\"]\n"
        ),
    )?;
    let home = work.join("home");
    std::fs::create_dir_all(&home)?;
    git(&repo, &home, 1_700_000_000, &["init", "-q", "-b", "main"])?;
    git(&repo, &home, 1_700_000_000, &["add", "-A"])?;
    git(
        &repo,
        &home,
        1_700_000_000,
        &["commit", "-q", "-m", "bench"],
    )?;
    git(&repo, &home, 1_700_000_000, &["tag", "v1"])?;
    let reprove = target().join("release").join("reprove");
    let run_reprove = |args: &[&str]| -> Result<()> {
        crate::util::run(
            Command::new(&reprove)
                .current_dir(&repo)
                .args(args)
                .env("DOCKER_HOST", &engine.host)
                .env("HOME", &home)
                .env_remove("REPROVE_PASSWORD")
                .env_remove("COSIGN_PASSWORD")
                .stdout(Stdio::null()),
        )
    };
    let key = work.join("k");
    let key_s = key.display().to_string();
    run_reprove(&["key", "generate", "--no-password", "--output", &key_s])?;
    let kept = work.join("kept");
    run_reprove(&["rebuild", "v1", "--keep", &kept.display().to_string()])?;
    let artifacts = kept.join("artifacts");
    let artifacts_s = artifacts.display().to_string();
    run_reprove(&[
        "release",
        "v1",
        "--artifacts",
        &artifacts_s,
        "--key",
        &format!("{key_s}.key"),
    ])?;
    let evidence = repo.join("evidence").join("v1");

    let pubkey = format!("{key_s}.pub");
    let mut verifies = Vec::new();
    for name in ["baseline", "provenance", "index"] {
        verifies.push(openssl_verify(
            &evidence.join(format!("{name}.sigstore.json")),
            &work.join(name),
            Path::new(&pubkey),
        )?);
    }
    let reference_script = format!(
        "openssl dgst -sha256 {artifacts}/* {evidence}/* >/dev/null && {verifies}",
        artifacts = artifacts_s,
        evidence = evidence.display(),
        verifies = verifies.join(" && ")
    );
    let ours = time_best(|| {
        let mut c = Command::new(&reprove);
        c.current_dir(&repo)
            .args([
                "verify",
                "v1",
                "--artifacts",
                &artifacts_s,
                "--key",
                &pubkey,
            ])
            .env("HOME", &home);
        c
    })?;
    let reference = time_best(|| {
        let mut c = Command::new("sh");
        c.args(["-c", &reference_script]);
        c
    })?;
    let ratio = ours.as_secs_f64() / reference.as_secs_f64();
    Ok(format!(
        "verify of a release with 1 GiB of artifacts: reprove {:.2} s vs openssl sha256 of every file + 3 signature checks {:.2} s → time ratio {ratio:.2} (target ≤ 1.2) {}",
        ours.as_secs_f64(),
        reference.as_secs_f64(),
        if ratio <= 1.2 { "PASS" } else { "FAIL" }
    ))
}

/// A repository with `tags` release tags `v1.0.<i>`, each with a real signed evidence folder
/// under `evidence/` (reprove's own library: baseline, rebuild report, provenance, signed
/// index), and the public key at `k.pub`.
struct Releases {
    repo_dir: PathBuf,
    home: PathBuf,
    pubkey: PathBuf,
}

fn make_releases(work: &Path, tags: usize) -> Result<Releases> {
    let repo_dir = work.join("repo");
    let home = work.join("home");
    let pubkey = work.join("k.pub");
    // Made once (a thousand releases take minutes): a later run starts from the marker's
    // copy, with the evidence folders put back where a run may have moved them.
    let marker = work.join(format!(".complete-{tags}"));
    let pristine = work.join("evidence-pristine");
    if marker.exists() && pristine.is_dir() {
        let _ = std::fs::remove_dir_all(repo_dir.join("evidence"));
        crate::util::copy_dir(&pristine, &repo_dir.join("evidence"))?;
        return Ok(Releases {
            repo_dir,
            home,
            pubkey,
        });
    }
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(repo_dir.join("src"))?;
    std::fs::create_dir_all(&home)?;
    let image = "127.0.0.1:5000/bench/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    std::fs::write(
        repo_dir.join("reprove.toml"),
        format!(
            "[project]\nname = \"bench\"\n\n[build]\nimage = \"{image}\"\ncommand = [\"make\"]\nartifacts = [\"dist/*\"]\n"
        ),
    )?;
    // Evidence is published, not committed: committed, every release's tree held all the
    // evidence before it, and making a thousand releases took an hour of hashing.
    std::fs::write(repo_dir.join(".gitignore"), "/evidence/\n")?;
    git(
        &repo_dir,
        &home,
        1_700_000_000,
        &["init", "-q", "-b", "main"],
    )?;
    say(&format!(
        "xtask: making {tags} releases with signed evidence"
    ));
    let key = reprove_attest::PrivateKey::generate(reprove_attest::KeyAlgorithm::P256)?;
    std::fs::write(&pubkey, key.public_key().to_pem())?;
    let repo = reprove_source::Repository::discover(&repo_dir)?;
    let dist = work.join("dist");
    std::fs::create_dir_all(&dist)?;
    for i in 0..tags {
        let t = 1_700_000_000 + i as i64 * 60;
        std::fs::write(repo_dir.join("src/version.txt"), format!("{i}\n"))?;
        git(&repo_dir, &home, t, &["add", "-A"])?;
        git(
            &repo_dir,
            &home,
            t,
            &[
                "commit",
                "-q",
                "-m",
                &format!("release {i}\n\nReviewed-by: R <r@example.com>"),
            ],
        )?;
        let name = format!("v1.0.{i}");
        git(&repo_dir, &home, t, &["tag", &name])?;
        let tag: reprove_source::Tag = name.parse()?;
        std::fs::write(dist.join("app.txt"), format!("app {i}\n"))?;
        reprove_release::testing::synthetic_release(
            &repo,
            &tag,
            &dist,
            &key,
            &repo_dir.join("evidence").join(&name),
            true,
        )?;
    }
    crate::util::copy_dir(&repo_dir.join("evidence"), &pristine)?;
    std::fs::write(&marker, b"")?;
    Ok(Releases {
        repo_dir,
        home,
        pubkey,
    })
}

/// `reprove status --key` over a repository with 300 release tags, each with a real signed
/// evidence folder (made with reprove's own library: baseline, a rebuild report, provenance,
/// signed index), against the same checks with standard tools: `sha256sum` of every evidence
/// file and `openssl dgst -verify` of its three signatures, tag by tag.
fn status(dir: &Path) -> Result<String> {
    const TAGS: usize = 300;
    let work = dir.join("status");
    let Releases {
        repo_dir,
        home,
        pubkey: _,
    } = make_releases(&work, TAGS)?;
    let mut script = String::from("set -e\n");
    let pubkey = work.join("k.pub");
    for i in 0..TAGS {
        let ev = repo_dir.join("evidence").join(format!("v1.0.{i}"));
        script.push_str(&format!("sha256sum {}/* >/dev/null\n", ev.display()));
        for name in ["baseline", "provenance", "index"] {
            script.push_str(&openssl_verify(
                &ev.join(format!("{name}.sigstore.json")),
                &work.join(format!("{i}-{name}")),
                &pubkey,
            )?);
            script.push('\n');
        }
    }
    let script_path = work.join("reference.sh");
    std::fs::write(&script_path, script)?;
    let reprove = target().join("release").join("reprove");
    let ours = time_best(|| {
        let mut c = Command::new(&reprove);
        c.current_dir(&repo_dir)
            .args(["status", "--key"])
            .arg(&pubkey)
            .env("HOME", &home);
        c
    })?;
    let reference = time_best(|| {
        let mut c = Command::new("sh");
        c.arg(&script_path);
        c
    })?;
    let ratio = ours.as_secs_f64() / reference.as_secs_f64();
    Ok(format!(
        "status of {TAGS} releases, every signature and evidence file re-verified: reprove {:.2} s vs sha256sum + 3 openssl signature checks per tag {:.2} s → time ratio {ratio:.2} (target ≤ 0.5) {}",
        ours.as_secs_f64(),
        reference.as_secs_f64(),
        if ratio <= 0.5 { "PASS" } else { "FAIL" }
    ))
}

/// The reference's half of a signature check: writes a bundle's DSSE PAE and DER signature
/// next to `prefix` and returns the `openssl dgst -verify` command that checks them.
fn openssl_verify(bundle: &Path, prefix: &Path, pubkey: &Path) -> Result<String> {
    let bundle: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(bundle)?)?;
    let env = reprove_attest::dsse::Envelope::from_json_value(&bundle["dsseEnvelope"])?;
    let sig = env
        .signatures
        .first()
        .context("a bundle without a signature")?;
    let pae_path = prefix.with_extension("pae");
    let sig_path = prefix.with_extension("sig");
    std::fs::write(&pae_path, env.pae())?;
    std::fs::write(&sig_path, &sig.sig)?;
    Ok(format!(
        "openssl dgst -sha256 -verify {} -signature {} {} >/dev/null",
        pubkey.display(),
        sig_path.display(),
        pae_path.display()
    ))
}

/// The fetch phase of a real Cargo.lock with 182 crates.io packages (`xtask/bench/fetch-100`)
/// in the Debian Rust image, against `cargo fetch --locked` alone in a bare `docker run` with
/// the same network and CA bundle. What reprove adds is measured as the difference between a
/// rebuild with the fetch phase and the same rebuild (a trivial build) without one, so the
/// export, image check and build container are not counted against the fetch. Cold: no cache;
/// warm: the cached store, checked again, with the fetch given no network at all.
fn fetch(dir: &Path) -> Result<String> {
    let engine = crate::util::Dockerd::start()?;
    let reg = reprove_oci::testing::TestRegistry::start();
    let rootfs = crate::util::debian_rust_rootfs()?;
    let layer = std::fs::read(&rootfs)?;
    let digest = reg.push_rootfs("bench/rust", "bookworm", &layer);
    drop(layer);
    let image = format!("{}/bench/rust@{digest}", reg.host);
    let work = dir.join("fetch");
    let _ = std::fs::remove_dir_all(&work);
    let repo = work.join("repo");
    let fixture = crate::util::root().join("xtask/bench/fetch-100");
    crate::util::copy_dir(&fixture, &repo)?;
    let ca = "/etc/ssl/certs/ca-certificates.crt";
    let with_fetch = format!(
        "[build]\nimage = \"{image}\"\ncommand = \"true\"\n\n[build.fetch]\ncommand = \"cargo fetch --locked\"\nstore = \"/tmp/.cargo/registry\"\n"
    );
    let without = format!("[build]\nimage = \"{image}\"\ncommand = \"true\"\n");
    let home = work.join("home");
    std::fs::create_dir_all(&home)?;
    git(&repo, &home, 1_700_000_000, &["init", "-q", "-b", "main"])?;
    std::fs::write(repo.join("reprove.toml"), &without)?;
    git(&repo, &home, 1_700_000_000, &["add", "-A"])?;
    git(
        &repo,
        &home,
        1_700_000_000,
        &["commit", "-q", "-m", "no fetch"],
    )?;
    git(&repo, &home, 1_700_000_000, &["tag", "plain"])?;
    std::fs::write(repo.join("reprove.toml"), &with_fetch)?;
    git(
        &repo,
        &home,
        1_700_000_100,
        &["commit", "-q", "-am", "fetch"],
    )?;
    git(&repo, &home, 1_700_000_100, &["tag", "fetch"])?;
    let docker = |args: &[&str]| {
        let mut c = Command::new("docker");
        c.args(["-H", &engine.host]).args(args);
        c
    };
    crate::util::run(&mut docker(&["pull", "--quiet", &image]))?;
    let reprove = target().join("release").join("reprove");
    let cache = work.join("cache");
    let cache_s = cache.display().to_string();
    let rebuild = |tag: &str, extra: &[&str]| {
        let mut c = Command::new(&reprove);
        c.current_dir(&repo)
            .args(["rebuild", tag, "--fetch-cache", &cache_s])
            .args(extra)
            .env("DOCKER_HOST", &engine.host)
            .env("HOME", &home);
        c
    };
    let once = |mut c: Command| -> Result<Duration> {
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let start = Instant::now();
        let st = c.status()?;
        if !st.success() {
            bail!("`{}` failed", crate::util::describe(&c));
        }
        Ok(start.elapsed())
    };
    let mut plain = Duration::MAX;
    let mut cold = Duration::MAX;
    let mut warm = Duration::MAX;
    let mut unproxied = Duration::MAX;
    let mut cargo_fetch = Duration::MAX;
    let mut cargo_fetch_host = Duration::MAX;
    let host_store = work.join("host-store");
    // Best of five: a cold fetch goes through this machine's TLS-intercepting mirror, whose
    // latency swings by ±0.2 s on a 1.4 s fetch; three runs left the ratio straddling the
    // target (1.11–1.25 in one session, for the same code).
    for _ in 0..5 {
        let _ = std::fs::remove_dir_all(&cache);
        plain = plain.min(once(rebuild("plain", &[]))?);
        cold = cold.min(once(rebuild("fetch", &["--fetch-network", "host"]))?);
        // The same without reprove's egress proxy: cargo on bookworm's libcurl 7.88 turns
        // HTTP/2 multiplexing off behind any proxy (rust-lang/cargo#12234), which costs it.
        let _ = std::fs::remove_dir_all(&cache);
        unproxied = unproxied.min(once(rebuild(
            "fetch",
            &["--fetch-network", "host", "--no-fetch-proxy"],
        ))?);
        // Warm: the store comes from the cache; a fetch job could reach nothing.
        warm = warm.min(once(rebuild("fetch", &["--fetch-network", "none"]))?);
        // `cargo fetch --locked` alone in a bare `docker run`, its registry in the
        // container's memory (`mounts` empty) or in a host folder.
        let bare_fetch = |mounts: &[String]| {
            let mut c = docker(&[
                "run",
                "--rm",
                "--network",
                "host",
                "-e",
                "HOME=/tmp",
                "--tmpfs",
                "/tmp:rw,exec,mode=1777",
            ]);
            c.args(mounts)
                .arg("-v")
                .arg(format!("{ca}:{ca}:ro"))
                .arg("-v")
                .arg(format!("{}:/build/src", repo.display()))
                .args(["-w", "/build/src", &image, "cargo", "fetch", "--locked"]);
            c
        };
        cargo_fetch = cargo_fetch.min(once(bare_fetch(&[]))?);
        // The same into a folder on the host (as a CI cache keeps it, and as reprove must, to
        // hand it to a separate build job), its unpacked sources in memory as reprove's are.
        let _ = std::fs::remove_dir_all(&host_store);
        std::fs::create_dir_all(&host_store)?;
        cargo_fetch_host = cargo_fetch_host.min(once(bare_fetch(&[
            "-v".into(),
            format!("{}:/tmp/.cargo/registry", host_store.display()),
            "--tmpfs".into(),
            "/tmp/.cargo/registry/src:rw,exec,mode=1777".into(),
        ]))?);
    }
    let cold_fetch = cold.saturating_sub(plain);
    let warm_fetch = warm.saturating_sub(plain);
    let unproxied_fetch = unproxied.saturating_sub(plain);
    let ratio = cold_fetch.as_secs_f64() / cargo_fetch.as_secs_f64();
    let ratio_host = cold_fetch.as_secs_f64() / cargo_fetch_host.as_secs_f64();
    Ok(format!(
        "fetch + checks of 182 crates: reprove's fetch phase {:.2} s cold, through its egress proxy ({:.2} s warm, from the cache, no network) vs cargo fetch --locked alone {:.2} s → time ratio {ratio:.3} cold (target ≤ 1.2) {} [without the proxy {:.2} s: ratio {:.3}; vs cargo fetch into a host folder {:.2} s: ratio {ratio_host:.3}]; rebuild without fetch {:.2} s",
        cold_fetch.as_secs_f64(),
        warm_fetch.as_secs_f64(),
        cargo_fetch.as_secs_f64(),
        if ratio <= 1.2 { "PASS" } else { "FAIL" },
        unproxied_fetch.as_secs_f64(),
        unproxied_fetch.as_secs_f64() / cargo_fetch.as_secs_f64(),
        cargo_fetch_host.as_secs_f64(),
        plain.as_secs_f64()
    ))
}

/// `reprove status --evidence-root oci://…` over 1,000 releases whose evidence is in a loopback
/// registry (every blob pulled, checked against its digest, every signature verified), against
/// plain `curl` downloads of the same manifests and blobs one after another (no checks at
/// all); and its peak memory against `status` over the first hundred of them.
fn status_registry(dir: &Path) -> Result<String> {
    const TAGS: usize = 1000;
    let work = dir.join("status-registry");
    let r = make_releases(&work, TAGS)?;
    let reg = reprove_oci::testing::TestRegistry::start();
    let repo = format!("{}/bench/evidence", reg.host);
    let to = format!("oci://{repo}");
    let reprove = target().join("release").join("reprove");
    let folders: Vec<PathBuf> = (0..TAGS)
        .map(|i| r.repo_dir.join("evidence").join(format!("v1.0.{i}")))
        .collect();
    let start = Instant::now();
    let st = Command::new(&reprove)
        .arg("-q")
        .arg("push-evidence")
        .args(&folders)
        .args(["--to", &to])
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("reprove push-evidence failed");
    }
    let pushed = start.elapsed();
    // The first hundred again in a repository of their own: memory must not grow with the
    // number of releases.
    let hundred = format!("oci://{repo}100");
    let st = Command::new(&reprove)
        .arg("-q")
        .arg("push-evidence")
        .args(&folders[..100])
        .args(["--to", &hundred])
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("reprove push-evidence failed");
    }
    let status_cmd = |root: &str| {
        let mut c = Command::new(&reprove);
        c.current_dir(&r.repo_dir)
            .args(["status", "--evidence-root", root, "--key"])
            .arg(&r.pubkey)
            .env("HOME", &r.home);
        c
    };
    // Everything below reads the registry.
    let _ = std::fs::remove_dir_all(work.join("evidence-local"));
    std::fs::rename(r.repo_dir.join("evidence"), work.join("evidence-local"))?;

    // The reference: every manifest and blob of every release, with curl, one at a time.
    let client = reprove_oci::registry::RegistryClient::new(Default::default())?;
    let image: reprove_oci::ImageRef = repo.parse()?;
    let mut script = String::from("set -e\n");
    let mut blobs = 0;
    for i in 0..TAGS {
        let tag = format!("v1.0.{i}");
        let m = client
            .get_manifest(&image, &tag)?
            .with_context(|| format!("{tag} was not pushed"))?;
        script.push_str(&format!(
            "curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://{}/v2/bench/evidence/manifests/{tag}\n",
            reg.host
        ));
        let v: serde_json::Value = serde_json::from_slice(&m.bytes)?;
        for l in v["layers"].as_array().context("no layers")? {
            let d = l["digest"].as_str().context("no digest")?;
            script.push_str(&format!(
                "curl -sf -o /dev/null http://{}/v2/bench/evidence/blobs/{d}\n",
                reg.host
            ));
            blobs += 1;
        }
    }
    let script_path = work.join("curl.sh");
    std::fs::write(&script_path, script)?;
    let ours = time_best(|| status_cmd(&to))?;
    let registry_kib = own_peak_kib(&mut status_cmd(&to))?;
    let hundred_kib = own_peak_kib(&mut status_cmd(&hundred))?;
    let reference = time_best(|| {
        let mut c = Command::new("sh");
        c.arg(&script_path);
        c
    })?;
    let ratio = ours.as_secs_f64() / reference.as_secs_f64();
    let memory = registry_kib as f64 / hundred_kib.max(1) as f64;
    let pass = ratio <= 0.2 && memory <= 1.5;
    Ok(format!(
        "status of {TAGS} releases from a loopback registry ({blobs} blobs + {TAGS} manifests, every digest and signature checked; pushed in {:.1} s): reprove {:.2} s vs sequential curl of the same {:.2} s → time ratio {ratio:.3} (target ≤ 0.2); peak memory {} MiB vs {} MiB for 100 of them → ratio {memory:.2} (target ≤ 1.5) {}",
        pushed.as_secs_f64(),
        ours.as_secs_f64(),
        reference.as_secs_f64(),
        registry_kib / 1024,
        hundred_kib / 1024,
        if pass { "PASS" } else { "FAIL" }
    ))
}

/// Push and pull of a 100-file evidence folder (a real signed release plus 95 files of 16 KiB
/// to 1 MiB, 40 MiB in all) with `reprove push-evidence` / `pull-evidence`, against
/// `skopeo copy` of the same manifest and blobs (from and to a `dir:` copy), each run into a
/// fresh repository or folder so every blob really moves.
fn evidence_transfer(dir: &Path) -> Result<String> {
    let work = dir.join("evidence-transfer");
    let r = make_releases(&work, 1)?;
    // What an earlier run pulled or copied goes: each run starts from nothing.
    for e in std::fs::read_dir(&work)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("ours-pull-") || name.starts_with("skopeo-") {
            std::fs::remove_dir_all(e.path())?;
        }
    }
    let folder = r.repo_dir.join("evidence").join("v1.0.0");
    let mut rng = Rng(0x0005_eed0_fe71);
    let existing = std::fs::read_dir(&folder)?.count();
    std::fs::create_dir_all(folder.join("extra"))?;
    let mut total = 0u64;
    for i in 0..(100 - existing) {
        let size = 16 * 1024 + (rng.next() % (1024 * 1024 - 16 * 1024));
        let mut buf = vec![0u8; size as usize];
        rng.fill(&mut buf);
        total += size;
        std::fs::write(folder.join(format!("extra/file-{i:03}.bin")), buf)?;
    }
    let reg = reprove_oci::testing::TestRegistry::start();
    let reprove = target().join("release").join("reprove");
    let skopeo = |args: &[String]| {
        let mut c = Command::new("skopeo");
        c.args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .args(args);
        c
    };
    // The same blobs for skopeo: the pushed evidence copied once into a `dir:` folder.
    let seed = format!("oci://{}/bench/seed", reg.host);
    let st = Command::new(&reprove)
        .args(["-q", "push-evidence"])
        .arg(&folder)
        .args(["--to", &seed])
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("reprove push-evidence failed");
    }
    let source = work.join("skopeo-source");
    let st = skopeo(&[
        format!("docker://{}/bench/seed:v1.0.0", reg.host),
        format!("dir:{}", source.display()),
    ])
    .status()?;
    if !st.success() {
        bail!("skopeo copy of the seed failed");
    }
    let mut n = 0;
    let ours_push = time_best(|| {
        n += 1;
        let mut c = Command::new(&reprove);
        c.args(["-q", "push-evidence"])
            .arg(&folder)
            .args(["--to", &format!("oci://{}/bench/ours{n}", reg.host)]);
        c
    })?;
    let mut n = 0;
    let skopeo_push = time_best(|| {
        n += 1;
        skopeo(&[
            format!("dir:{}", source.display()),
            format!("docker://{}/bench/skopeo{n}:v1.0.0", reg.host),
        ])
    })?;
    let mut n = 0;
    let ours_pull = time_best(|| {
        n += 1;
        let mut c = Command::new(&reprove);
        c.args([
            "-q",
            "pull-evidence",
            &format!("oci://{}/bench/seed:v1.0.0", reg.host),
            "--out",
        ])
        .arg(work.join(format!("ours-pull-{n}")));
        c
    })?;
    let mut n = 0;
    let skopeo_pull = time_best(|| {
        n += 1;
        skopeo(&[
            format!("docker://{}/bench/seed:v1.0.0", reg.host),
            format!("dir:{}", work.join(format!("skopeo-pull-{n}")).display()),
        ])
    })?;
    let push_ratio = ours_push.as_secs_f64() / skopeo_push.as_secs_f64();
    let pull_ratio = ours_pull.as_secs_f64() / skopeo_pull.as_secs_f64();
    let pass = push_ratio <= 1.2 && pull_ratio <= 1.2;
    Ok(format!(
        "evidence folder of 100 files ({} MiB) to and from a loopback registry: push reprove {:.3} s vs skopeo copy {:.3} s → ratio {push_ratio:.2}; pull reprove {:.3} s vs skopeo copy {:.3} s → ratio {pull_ratio:.2} (target ≤ 1.2 each) {}",
        total >> 20,
        ours_push.as_secs_f64(),
        skopeo_push.as_secs_f64(),
        ours_pull.as_secs_f64(),
        skopeo_pull.as_secs_f64(),
        if pass { "PASS" } else { "FAIL" }
    ))
}
