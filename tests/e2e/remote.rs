//! Rebuilds on an engine that does not share reprove's disk: a second Debian `dockerd` in a
//! network namespace of its own (`ip netns`, a veth pair), reached over TCP, in a mount
//! namespace where the test's folders are hidden under an empty tmpfs — so a job that named a
//! path of this machine would find nothing. Its images come from the test's loopback registry,
//! served inside the namespace at the same address by a second `docker-registry` on the same
//! storage. The rebuild there must give the digests of the local one, under the same
//! conditions (the probe build writes them into its artifact).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use reprove_oci::testing::TestRegistry;
use serde_json::Value;

use crate::rebuild::busybox_on_loopback;
use crate::support::{Fixture, require_tool, stderr};

/// Which engine serves the namespace: a dockerd, or podman's API service (reached by the
/// podman CLI through `CONTAINER_HOST`) with the containers.conf `cargo xtask test` writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Served<'a> {
    Docker,
    Podman {
        conf: &'a std::ffi::OsStr,
    },
    /// A dockerd on a socket in the namespace, reached with `ssh://` through an sshd there.
    DockerOverSsh,
}

/// A dockerd (or podman service) in its own network and mount namespaces, on
/// `tcp://10.x.y.2:2375`.
struct RemoteDaemon {
    ns: String,
    host: String,
    podman: bool,
    /// For `ssh://`: the folder whose `ssh` (first in `PATH`) carries the test's key and
    /// config, and the sshd.
    ssh_bin: Option<std::path::PathBuf>,
    sshd: Option<Child>,
    daemon: Child,
    registry: Child,
    _dir: tempfile::TempDir,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl RemoteDaemon {
    /// Starts it; `hide` is made an empty folder in its mount namespace.
    fn start(reg: &TestRegistry, hide: &Path) -> RemoteDaemon {
        Self::start_serving(reg, hide, Served::Docker)
    }

    fn start_serving(reg: &TestRegistry, hide: &Path, served: Served<'_>) -> RemoteDaemon {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let ns = format!("reprove-{pid}-{n}");
        // Interface names are at most 15 bytes.
        let tag = format!("{:x}", (pid << 4) | (n & 0xf));
        let (outside, inside) = (format!("rvh{tag}"), format!("rvn{tag}"));
        let subnet = format!("10.{}.{}", 200 + (n % 50), pid % 250);
        ip(&["netns", "add", &ns]);
        ip(&[
            "link", "add", &outside, "type", "veth", "peer", "name", &inside,
        ]);
        ip(&["link", "set", &inside, "netns", &ns]);
        ip(&["addr", "add", &format!("{subnet}.1/30"), "dev", &outside]);
        ip(&["link", "set", &outside, "up"]);
        let in_ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &ns, "ip"];
            all.extend(args);
            ip(&all);
        };
        in_ns(&["addr", "add", &format!("{subnet}.2/30"), "dev", &inside]);
        in_ns(&["link", "set", &inside, "up"]);
        in_ns(&["link", "set", "lo", "up"]);
        // `nsenter`, not `ip netns exec`: that one mounts a fresh `/sys`, without the cgroup
        // hierarchies dockerd needs.
        let net = format!("--net=/run/netns/{ns}");
        let registry = Command::new("nsenter")
            .args([&net, "docker-registry", "serve"])
            .arg(reg.config_path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let host = match served {
            Served::DockerOverSsh => format!("ssh://root@{subnet}.2"),
            _ => format!("tcp://{subnet}.2:2375"),
        };
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let mut cmd = Command::new("nsenter");
        cmd.args([&net, "unshare", "--mount", "--propagation", "private"])
            .args([
                "sh",
                "-c",
                "mount -t tmpfs -o mode=0755 tmpfs \"$1\" && shift && exec \"$@\"",
                "sh",
            ])
            .arg(hide);
        match served {
            Served::Docker | Served::DockerOverSsh => {
                let listen = match served {
                    Served::DockerOverSsh => format!("unix://{}", socket.display()),
                    _ => host.clone(),
                };
                cmd.args([
                    "dockerd",
                    "--bridge=none",
                    "--iptables=false",
                    "--ip6tables=false",
                ])
                .arg("--data-root")
                .arg(dir.path().join("data"))
                .arg("--exec-root")
                .arg(dir.path().join("exec"))
                .arg("--pidfile")
                .arg(dir.path().join("pid"))
                .args(["-H", &listen]);
            }
            Served::Podman { conf } => {
                // Its own storage; no time limit on the API service.
                cmd.env("CONTAINERS_CONF", conf)
                    .arg("podman")
                    .arg("--root")
                    .arg(dir.path().join("root"))
                    .arg("--runroot")
                    .arg(dir.path().join("run"))
                    .args(["system", "service", "--time=0", &host]);
            }
        }
        let daemon = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let (ssh_bin, sshd) = match served {
            Served::DockerOverSsh => {
                let (bin, sshd) = start_sshd(dir.path(), &net, &format!("{subnet}.2"), &socket);
                (Some(bin), Some(sshd))
            }
            _ => (None, None),
        };
        let d = RemoteDaemon {
            ns,
            host,
            ssh_bin,
            sshd,
            podman: matches!(served, Served::Podman { .. }),
            daemon,
            registry,
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(90);
        while d.docker(&["version"]).is_none() {
            assert!(
                Instant::now() < until,
                "the remote dockerd did not answer: {}",
                std::fs::read_to_string(d._dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        d
    }

    /// The docker (or podman) CLI against this daemon: stdout, when it succeeds.
    fn docker(&self, args: &[&str]) -> Option<String> {
        let out = if self.podman {
            Command::new("podman")
                .env("CONTAINER_HOST", &self.host)
                .args(args)
                .output()
                .ok()?
        } else {
            let mut cmd = Command::new("docker");
            cmd.env("DOCKER_HOST", &self.host);
            if self.ssh_bin.is_some() {
                cmd.env("PATH", self.ssh_path());
            }
            cmd.args(args).output().ok()?
        };
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for RemoteDaemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.daemon.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = self.registry.kill();
        let _ = self.registry.wait();
        if let Some(sshd) = &mut self.sshd {
            let _ = sshd.kill();
            let _ = sshd.wait();
        }
        // The veth pair goes with the namespace.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

impl RemoteDaemon {
    /// `PATH` with the test's `ssh` first.
    fn ssh_path(&self) -> String {
        format!(
            "{}:{}",
            self.ssh_bin.as_ref().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

/// An sshd in the network namespace `net` on `address`, whose sessions reach the dockerd on
/// `socket` (`SetEnv DOCKER_HOST`), with a key made here; returns the folder of an `ssh` that
/// uses that key and trusts that host, and the sshd.
fn start_sshd(dir: &Path, net: &str, address: &str, socket: &Path) -> (std::path::PathBuf, Child) {
    let keygen = |file: &str| {
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(dir.join(file))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    keygen("client");
    keygen("host");
    std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys")).unwrap();
    // Privilege separation wants its empty folder.
    std::fs::create_dir_all("/run/sshd").unwrap();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "ListenAddress {address}\nPort 22\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nSetEnv DOCKER_HOST=unix://{s}\nPidFile {d}/sshd.pid\n",
            d = dir.display(),
            s = socket.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("ssh_config"),
        format!(
            "Host {address}\n  IdentityFile {d}/client\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
            dir.join("ssh_config").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sshd = Command::new("nsenter")
        .arg(net)
        .arg("/usr/sbin/sshd")
        .arg("-D")
        .arg("-f")
        .arg(dir.join("sshd_config"))
        .arg("-E")
        .arg(dir.join("sshd.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (bin, sshd)
}

/// What the build can see of its conditions, written into an artifact: the same bytes on
/// two engines mean the same conditions.
const PROBE: &str = "set -eu\nmkdir -p dist\n{\n  echo \"user $(id -u):$(id -g)\"\n  echo \"host $(hostname)\"\n  echo \"umask $(umask)\"\n  echo \"pwd $(pwd)\"\n  echo \"net $(ls /sys/class/net | tr '\\n' ' ')\"\n  if touch /probe-root 2>/dev/null; then echo 'root writable'; else echo 'root read-only'; fi\n  if touch /tmp/probe 2>/dev/null; then echo 'tmp writable'; else echo 'tmp read-only'; fi\n  env | grep -v '^HOSTNAME=' | sort\n  find . -path ./dist -prune -o -print | sort\n} > dist/probe.txt\necho generated > src/generated.txt\ncat src/greeting.txt src/generated.txt > dist/greeting.txt\nln -s greeting.txt dist/link.txt\n";

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn rebuild(f: &Fixture, docker_host: &str, args: &[&str]) -> Run {
    reprove(f, docker_host, &[&["rebuild"], args].concat())
}

/// `reprove` in the fixture's repository, on the engine at `docker_host`, with its temporary
/// files among the test's (which the remote daemon cannot see).
fn reprove(f: &Fixture, docker_host: &str, args: &[&str]) -> Run {
    reprove_env(f, args, &[("DOCKER_HOST", docker_host)])
}

/// `reprove` in the fixture's repository with `env` on top.
fn reprove_env(f: &Fixture, args: &[&str], env: &[(&str, &str)]) -> Run {
    let tmp = f.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reprove"));
    cmd.current_dir(f.repo()).args(args);
    f.env(&mut cmd);
    cmd.env("TMPDIR", &tmp).env("REPROVE_DIFFOSCOPE", "");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: stderr(&out),
    }
}

/// busybox with files of its own where the jobs' volumes go (`/build`, the store): a bind
/// mount hides them, and a volume must not take them in.
fn planted_layer() -> Vec<u8> {
    let mut layer = reprove_oci::testing::busybox_layer();
    assert!(layer.ends_with(&[0u8; 1024]));
    layer.truncate(layer.len() - 1024);
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in [
        ("build/planted.txt", &b"the image's /build"[..]),
        ("build/src/planted.txt", b"the image's /build/src"),
        ("tmp-store/planted.whl", b"the image's store"),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path(path).unwrap();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    layer.extend(b.into_inner().unwrap());
    layer
}

#[test]
fn a_remote_engine_in_its_own_network_rebuilds_the_same_bits_under_the_same_conditions() {
    let Some((local, reg, _busybox)) = busybox_on_loopback() else {
        return;
    };
    let digest = reg.push_rootfs("reprove/planted", "1", &planted_layer());
    let image = format!("{}/reprove/planted:1@{digest}", reg.host);
    for tool in ["ip", "nsenter", "unshare", "dockerd"] {
        assert!(
            require_tool(tool),
            "{tool} is needed to start a remote engine"
        );
    }
    let f = Fixture::new();
    f.write("reprove.toml", format!("[project]\nname = \"tiny\"\n\n[build]\nimage = \"{image}\"\ncommand = [\"sh\", \"build.sh\"]\nartifacts = [\"dist/*\"]\nenv = {{ GREETING = \"hello\" }}\n"));
    f.write("src/greeting.txt", "hello, remote world\n");
    f.write("build.sh", PROBE);
    f.write(".gitignore", "/evidence/\n");
    f.commit("release\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    let first = f.path("first");
    let local_run = rebuild(
        &f,
        &local,
        &[
            "v1.0.0",
            "--keep",
            first.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(local_run.code, 0, "{}{}", local_run.out, local_run.err);
    let local_report: Value = serde_json::from_str(&local_run.out).unwrap();
    assert_eq!(local_report["engineSite"]["transfer"], "mount");
    let probe = std::fs::read_to_string(first.join("artifacts/probe.txt")).unwrap();
    for line in [
        "user 0:0",
        "host reprove",
        "umask 0022",
        "pwd /build/src",
        "net lo \n",
        "root read-only",
        "tmp writable",
        "GREETING=hello",
        "./src/greeting.txt",
    ] {
        assert!(probe.contains(line), "{line:?} not in {probe}");
    }
    // The symlink is not an artifact, on either engine.
    assert!(!first.join("artifacts/link.txt").exists());

    let remote = RemoteDaemon::start(&reg, f.dir.path());
    // The remote daemon cannot see the test's files: a bind mount of them would be empty.
    assert_eq!(
        remote
            .docker(&[
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                &format!("{}:/seen", f.repo().display()),
                &image.replacen(":1@", "@", 1),
                "ls",
                "-A",
                "/seen",
            ])
            .unwrap_or_else(|| "the probe container failed".into()),
        "",
        "the remote daemon sees the test's files"
    );
    let artifacts = first.join("artifacts");
    let r = rebuild(
        &f,
        &remote.host,
        &[
            "v1.0.0",
            "--artifacts",
            artifacts.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let report: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(report["verdict"], "reproducible", "{}", r.out);
    assert_eq!(report["artifacts"], local_report["artifacts"]);
    assert_eq!(report["engineSite"]["transfer"], "copy");
    assert_eq!(report["engineSite"]["endpoint"], remote.host.as_str());
    let daemon_id = remote.docker(&["info", "--format", "{{.ID}}"]).unwrap();
    assert!(
        report["engineSite"]["daemon"]
            .as_str()
            .is_some_and(|d| d.contains(&daemon_id)),
        "{}",
        report["engineSite"]
    );
    // The text says which daemon built it.
    let text = rebuild(
        &f,
        &remote.host,
        &["v1.0.0", "--artifacts", artifacts.to_str().unwrap()],
    );
    assert_eq!(text.code, 0, "{}{}", text.out, text.err);
    assert!(
        text.out
            .contains(&format!("engine: docker at {}", remote.host))
            && text.out.contains("files copied in and out"),
        "{}",
        text.out
    );

    // The varied build runs as another user on the remote engine too: the tree it was given
    // must be writable by it (the probe writes into `src/`), and the varied conditions show.
    let varied = rebuild(
        &f,
        &remote.host,
        &["v1.0.0", "--variations", "--format", "json"],
    );
    assert_eq!(varied.code, 1, "{}{}", varied.out, varied.err);
    let v: Value = serde_json::from_str(&varied.out).unwrap();
    let changed: Vec<&str> = v["variations"]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["artifact"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["probe.txt"], "{}", varied.out);

    // `--remote-engine` copies to a daemon on this machine's socket as well, with the same
    // result.
    let copied = rebuild(
        &f,
        &local,
        &[
            "v1.0.0",
            "--remote-engine",
            "--artifacts",
            artifacts.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(copied.code, 0, "{}{}", copied.out, copied.err);
    let c: Value = serde_json::from_str(&copied.out).unwrap();
    assert_eq!(c["engineSite"]["transfer"], "copy");
    assert_eq!(c["verdict"], "reproducible");

    // A release rebuilt on the remote engine names it in its provenance, and a verifier's
    // rebuild there passes.
    let key = f.path("k");
    let made = reprove(
        &f,
        &local,
        &[
            "key",
            "generate",
            "--no-password",
            "--output",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(made.code, 0, "{}", made.err);
    let (private, public) = (f.path("k.key"), f.path("k.pub"));
    let released = reprove(
        &f,
        &remote.host,
        &[
            "release",
            "v1.0.0",
            "--artifacts",
            artifacts.to_str().unwrap(),
            "--key",
            private.to_str().unwrap(),
        ],
    );
    assert_eq!(released.code, 0, "{}{}", released.out, released.err);
    let statement =
        crate::release::payload(&f.repo().join("evidence/v1.0.0/provenance.sigstore.json"));
    let engine = &statement["predicate"]["buildDefinition"]["internalParameters"]["engine"];
    assert_eq!(engine["name"], "docker");
    assert_eq!(engine["transfer"], "copy");
    assert_eq!(engine["endpoint"], remote.host.as_str());
    assert!(
        engine["daemon"]
            .as_str()
            .is_some_and(|d| d.contains(&daemon_id)),
        "{engine}"
    );
    let verified = reprove(
        &f,
        &remote.host,
        &[
            "verify",
            "v1.0.0",
            "--artifacts",
            artifacts.to_str().unwrap(),
            "--key",
            public.to_str().unwrap(),
            "--rebuild",
        ],
    );
    assert_eq!(verified.code, 0, "{}{}", verified.out, verified.err);

    // A recipe with a fetch phase: the fetch runs there (offered this machine's CA bundle,
    // which it checks for), its store comes back and is checked here, and the build there is
    // given it read-only — then again from the cache, with no fetch job.
    let wheel = b"not really a wheel\n";
    let hash = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(wheel))
    };
    f.write("vendor/demo-1.0-py3-none-any.whl", wheel);
    f.write(
        "requirements.txt",
        format!("demo==1.0 --hash=sha256:{hash}\n"),
    );
    f.write("fetch.sh", "set -eu\ntest -s \"$SSL_CERT_FILE\" || { echo 'no CA bundle' >&2; exit 7; }\ncp vendor/demo-1.0-py3-none-any.whl /tmp-store/\n");
    f.write("build.sh", "set -eu\nmkdir -p dist\ncat /tmp-store/demo-1.0-py3-none-any.whl > dist/app.bin\nif touch /tmp-store/planted 2>/dev/null; then echo 'store writable'; else echo 'store read-only'; fi > dist/store.txt\nls -ln /tmp-store >> dist/store.txt\n");
    f.write("reprove.toml", format!("[project]\nname = \"tiny\"\n\n[build]\nimage = \"{image}\"\ncommand = [\"sh\", \"build.sh\"]\nartifacts = [\"dist/*\"]\n\n[build.fetch]\ncommand = [\"sh\", \"fetch.sh\"]\nstore = \"/tmp-store\"\n"));
    f.commit("fetch\n\nReviewed-by: R <r@example.com>");
    f.tag("v2.0.0");
    let cache = f.path("cache");
    let cache = cache.to_str().unwrap();
    let fetched = f.path("fetched");
    let local_fetch = rebuild(
        &f,
        &local,
        &[
            "v2.0.0",
            "--fetch-network",
            "none",
            "--no-fetch-cache",
            "--keep",
            fetched.to_str().unwrap(),
        ],
    );
    assert_eq!(
        local_fetch.code, 0,
        "{}{}",
        local_fetch.out, local_fetch.err
    );
    let store_txt = std::fs::read_to_string(fetched.join("artifacts/store.txt")).unwrap();
    assert!(store_txt.starts_with("store read-only\n"), "{store_txt}");
    let fetched = fetched.join("artifacts");
    let fetched = fetched.to_str().unwrap();
    for round in ["fetched there", "from the cache"] {
        let r = rebuild(
            &f,
            &remote.host,
            &[
                "v2.0.0",
                "--fetch-network",
                "none",
                "--fetch-cache",
                cache,
                "--artifacts",
                fetched,
                "--format",
                "json",
            ],
        );
        assert_eq!(r.code, 0, "{round}: {}{}", r.out, r.err);
        let report: Value = serde_json::from_str(&r.out).unwrap();
        assert_eq!(report["verdict"], "reproducible", "{round}: {}", r.out);
        assert_eq!(
            report["fetch"]["fromCache"].as_bool().unwrap_or(false),
            round == "from the cache",
            "{round}: {}",
            report["fetch"]
        );
    }

    // Outputs a careless copy gets wrong: a name over 100 bytes and one not ASCII (`docker
    // cp` writes PAX headers for them), a hard link (cargo's `target/release/rg`), and a
    // pattern through a link to the image's own files. Both engines give the same set.
    let long = "d".repeat(120);
    f.write("build.sh", format!("set -eu\nmkdir -p deps dist/{long}\necho linked > deps/tool-1234\nln deps/tool-1234 dist/tool\necho long > dist/{long}/long.txt\necho accent > dist/café.txt\nln -s /bin out\n"));
    f.write("reprove.toml", format!("[project]\nname = \"tiny\"\n\n[build]\nimage = \"{image}\"\ncommand = [\"sh\", \"build.sh\"]\nartifacts = [\"dist/*\", \"dist/*/long.txt\", \"out/*\"]\n"));
    f.commit("odd outputs\n\nReviewed-by: R <r@example.com>");
    f.tag("v3.0.0");
    let odd = f.path("odd");
    let here = rebuild(
        &f,
        &local,
        &[
            "v3.0.0",
            "--keep",
            odd.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(here.code, 0, "{}{}", here.out, here.err);
    let here: Value = serde_json::from_str(&here.out).unwrap();
    let names: Vec<&String> = here["artifacts"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["café.txt", "long.txt", "tool"], "{here:#}");
    let there = rebuild(
        &f,
        &remote.host,
        &[
            "v3.0.0",
            "--artifacts",
            odd.join("artifacts").to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(there.code, 0, "{}{}", there.out, there.err);
    let there: Value = serde_json::from_str(&there.out).unwrap();
    assert_eq!(there["verdict"], "reproducible", "{there:#}");
    assert_eq!(there["artifacts"], here["artifacts"]);

    // Nothing is left on the remote engine: no container, no volume.
    assert_eq!(remote.docker(&["ps", "-aq"]).unwrap(), "");
    assert_eq!(remote.docker(&["volume", "ls", "-q"]).unwrap(), "");

    // A build that fails there fails here, with its log, and leaves nothing either.
    f.write("build.sh", "echo 'broken on purpose' >&2\nexit 3\n");
    f.commit("broken");
    f.tag("v1.0.1");
    let broken = rebuild(&f, &remote.host, &["v1.0.1"]);
    assert_eq!(broken.code, 2, "{}{}", broken.out, broken.err);
    assert!(
        broken.err.contains("the build failed with exit code 3")
            && broken.err.contains("broken on purpose"),
        "{}",
        broken.err
    );
    assert_eq!(remote.docker(&["ps", "-aq"]).unwrap(), "");

    // An engine that is gone: a clear error, exit 2.
    drop(remote);
    let gone = rebuild(&f, "tcp://127.0.0.1:1", &["v1.0.0"]);
    assert_eq!(gone.code, 2, "{}{}", gone.out, gone.err);
    assert!(
        gone.err.contains("not running or not reachable"),
        "{}",
        gone.err
    );
}

/// The same over podman's API (`podman system service` in its own network and mount
/// namespaces, reached through `CONTAINER_HOST`): the probe build gives the bytes docker gives —
/// the same user, hostname, umask, network, read-only root and environment (podman's own
/// `container` and `TERM` are unset) — and a release there names podman and its endpoint.
#[test]
fn podman_over_container_host_rebuilds_the_same_bits_under_the_same_conditions() {
    let Some(conf) = std::env::var_os("REPROVE_TEST_CONTAINERS_CONF") else {
        assert!(
            std::env::var_os("REPROVE_REQUIRE_TOOLS").is_none(),
            "REPROVE_TEST_CONTAINERS_CONF is not set; cargo xtask test writes it"
        );
        eprintln!("skipping: podman is not set up");
        return;
    };
    let Some((local, reg, _busybox)) = busybox_on_loopback() else {
        return;
    };
    for tool in ["ip", "nsenter", "unshare", "podman"] {
        assert!(
            require_tool(tool),
            "{tool} is needed to start a remote engine"
        );
    }
    // The image sets `container` itself (as UBI and Fedora images do): podman must keep the
    // image's value where it would put its own, as docker does.
    let digest = reg.push_rootfs_env("reprove/planted", "1", &planted_layer(), &["container=oci"]);
    let image = format!("{}/reprove/planted:1@{digest}", reg.host);
    let f = Fixture::new();
    f.write("reprove.toml", format!("[project]\nname = \"tiny\"\n\n[build]\nimage = \"{image}\"\ncommand = [\"sh\", \"build.sh\"]\nartifacts = [\"dist/*\"]\nenv = {{ GREETING = \"hello\" }}\n"));
    f.write("src/greeting.txt", "hello, remote world\n");
    f.write("build.sh", PROBE);
    f.write(".gitignore", "/evidence/\n");
    f.commit("release\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    let first = f.path("first");
    let local_run = rebuild(&f, &local, &["v1.0.0", "--keep", first.to_str().unwrap()]);
    assert_eq!(local_run.code, 0, "{}{}", local_run.out, local_run.err);
    let probe = std::fs::read_to_string(first.join("artifacts/probe.txt")).unwrap();
    assert!(probe.contains("container=oci\n"), "{probe}");
    assert!(!probe.contains("TERM="), "{probe}");
    let artifacts = first.join("artifacts");

    let remote = RemoteDaemon::start_serving(&reg, f.dir.path(), Served::Podman { conf: &conf });
    // The service cannot see the test's files: a bind mount of them fails or shows nothing.
    let seen = remote.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{}:/seen", f.repo().display()),
        "--tls-verify=false",
        &image.replacen(":1@", "@", 1),
        "ls",
        "-A",
        "/seen",
    ]);
    assert!(
        seen.as_deref().is_none_or(str::is_empty),
        "the podman service sees the test's files: {seen:?}"
    );
    let conf_text = conf.to_str().unwrap();
    let on_podman = |args: &[&str]| -> Run {
        reprove_env(
            &f,
            &[args, &["--engine", "podman"]].concat(),
            &[
                ("CONTAINER_HOST", remote.host.as_str()),
                ("CONTAINERS_CONF", conf_text),
            ],
        )
    };
    let r = on_podman(&[
        "rebuild",
        "v1.0.0",
        "--artifacts",
        artifacts.to_str().unwrap(),
        "--keep",
        f.path("podman").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let podman_probe =
        std::fs::read_to_string(f.path("podman/artifacts/probe.txt")).unwrap_or_default();
    assert_eq!(
        r.code,
        0,
        "{}{}\ndocker's probe:\n{}\npodman's probe:\n{podman_probe}",
        r.out,
        r.err,
        std::fs::read_to_string(artifacts.join("probe.txt")).unwrap()
    );
    let report: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(report["verdict"], "reproducible");
    assert_eq!(report["engine"], "podman");
    assert_eq!(report["engineSite"]["transfer"], "copy");
    assert_eq!(report["engineSite"]["endpoint"], remote.host.as_str());

    // Released there: the provenance names podman at its endpoint.
    let key = f.path("k");
    let made = reprove(
        &f,
        &local,
        &[
            "key",
            "generate",
            "--no-password",
            "--output",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(made.code, 0, "{}", made.err);
    let released = on_podman(&[
        "release",
        "v1.0.0",
        "--artifacts",
        artifacts.to_str().unwrap(),
        "--key",
        f.path("k.key").to_str().unwrap(),
    ]);
    assert_eq!(released.code, 0, "{}{}", released.out, released.err);
    let statement =
        crate::release::payload(&f.repo().join("evidence/v1.0.0/provenance.sigstore.json"));
    let engine = &statement["predicate"]["buildDefinition"]["internalParameters"]["engine"];
    assert_eq!(engine["name"], "podman");
    assert_eq!(engine["transfer"], "copy");
    assert_eq!(engine["endpoint"], remote.host.as_str());
}

/// `DOCKER_HOST=ssh://…`: the docker CLI reaches the daemon through `ssh … docker system
/// dial-stdio`. An `sshd` of its own in the namespace, beside a dockerd on a socket there; the
/// client's `ssh` is given the test's key and config (a wrapper first in `PATH`, since `ssh`
/// reads the account's home, not `HOME`). Same bits as the local engine, and the provenance
/// names the ssh endpoint.
#[test]
fn a_remote_engine_over_ssh_rebuilds_the_same_bits() {
    let Some((local, reg, image)) = busybox_on_loopback() else {
        return;
    };
    for tool in [
        "ip",
        "nsenter",
        "unshare",
        "dockerd",
        "sshd",
        "ssh",
        "ssh-keygen",
    ] {
        assert!(
            require_tool(tool),
            "{tool} is needed to reach an engine over ssh"
        );
    }
    let f = Fixture::new();
    f.write("reprove.toml", format!("[project]\nname = \"tiny\"\n\n[build]\nimage = \"{image}\"\ncommand = [\"sh\", \"build.sh\"]\nartifacts = [\"dist/*\"]\n"));
    f.write("src/greeting.txt", "hello, ssh world\n");
    f.write("build.sh", PROBE);
    f.write(".gitignore", "/evidence/\n");
    f.commit("release\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    let first = f.path("first");
    let local_run = rebuild(&f, &local, &["v1.0.0", "--keep", first.to_str().unwrap()]);
    assert_eq!(local_run.code, 0, "{}{}", local_run.out, local_run.err);
    let artifacts = first.join("artifacts");

    let remote = RemoteDaemon::start_serving(&reg, f.dir.path(), Served::DockerOverSsh);
    let ssh_host = remote.host.clone();
    let r = reprove_env(
        &f,
        &[
            "rebuild",
            "v1.0.0",
            "--artifacts",
            artifacts.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[
            ("DOCKER_HOST", ssh_host.as_str()),
            ("PATH", &remote.ssh_path()),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let report: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(report["verdict"], "reproducible", "{}", r.out);
    assert_eq!(report["engineSite"]["transfer"], "copy");
    assert_eq!(report["engineSite"]["endpoint"], ssh_host.as_str());
}
