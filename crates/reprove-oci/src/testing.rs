//! Test support (feature `testing`): a real CNCF Distribution registry (Debian's
//! `docker-registry`) on a free loopback port, and a pusher for small deterministic OCI images
//! and indexes. Used by the end-to-end tests and the benchmarks; never by reprove itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reprove_digest::{Digest, sha256_bytes};

use crate::registry::{OCI_INDEX, OCI_MANIFEST};

/// A registry process that lives as long as this value.
#[derive(Debug)]
pub struct TestRegistry {
    pub host: String,
    child: Child,
    _dir: tempfile::TempDir,
    agent: ureq::Agent,
    /// `Authorization` for registries started with basic auth.
    basic: Option<String>,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A minimal ustar archive holding one file.
pub fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{:011o}", content.len()).as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// The config and manifest of the one-layer image [`TestRegistry::push_rootfs`] makes of a
/// root filesystem tar: fixed but for the layer, so the image's digest is the layer's function.
fn rootfs_image(layer_digest: &Digest, layer_len: usize) -> (String, String) {
    rootfs_image_env(layer_digest, layer_len, &[])
}

fn rootfs_image_env(layer_digest: &Digest, layer_len: usize, env: &[&str]) -> (String, String) {
    let env: String = env
        .iter()
        .map(|e| format!(",{}", serde_json::json!(e)))
        .collect();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"{env}]}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
    );
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{layer_len}}}]}}"#,
        sha256_bytes(config.as_bytes()),
        config.len(),
    );
    (config, manifest)
}

/// The digest [`TestRegistry::push_rootfs`] gives the image of `layer`, without a registry: what
/// a pin of that image names.
pub fn rootfs_image_digest(layer: &[u8]) -> Digest {
    let (_, manifest) = rootfs_image(&sha256_bytes(layer), layer.len());
    sha256_bytes(manifest.as_bytes())
}

impl TestRegistry {
    /// Starts `docker-registry` with deletes enabled on 127.0.0.1 and waits until it answers.
    pub fn start() -> TestRegistry {
        Self::start_with(None, free_port())
    }

    /// Like [`TestRegistry::start`], on a given port (the caller has checked it is free: a
    /// registry already answering there would be taken for this one).
    pub fn start_on(port: u16) -> TestRegistry {
        Self::start_with(None, port)
    }

    /// Like [`TestRegistry::start`], requiring HTTP basic auth (htpasswd) for `user`/`password`.
    pub fn start_with_basic_auth(user: &str, password: &str) -> TestRegistry {
        Self::start_with(Some((user, password)), free_port())
    }

    fn start_with(basic: Option<(&str, &str)>, port: u16) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yml");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        let mut basic_header = None;
        if let Some((user, password)) = basic {
            let htpasswd = dir.path().join("htpasswd");
            let hash = bcrypt::hash(password, 5).unwrap();
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: reprove-test\n    path: {}\n",
                htpasswd.display()
            ));
            use base64::Engine as _;
            basic_header = Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ));
        }
        std::fs::write(&config, yaml).unwrap();
        let bin = ["/usr/bin/docker-registry", "docker-registry", "registry"]
            .into_iter()
            .find(|b| Command::new(b).arg("--version").output().is_ok())
            .expect("docker-registry is not installed (apt-get install docker-registry; cargo xtask test does it)");
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let host = format!("127.0.0.1:{port}");
        let mut reg = TestRegistry {
            host: host.clone(),
            child,
            _dir: dir,
            agent,
            basic: basic_header,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Ours exited (the port was taken after all): whatever answers there is not ours.
            if let Ok(Some(status)) = reg.child.try_wait() {
                panic!(
                    "docker-registry exited ({status}) before answering on {host}: is the port in use?"
                );
            }
            if let Ok(r) = reg
                .with_auth(reg.agent.get(&format!("http://{host}/v2/")))
                .call()
                && r.status().as_u16() == 200
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start on {host}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    fn with_auth<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.basic {
            Some(b) => req.header("Authorization", b),
            None => req,
        }
    }

    /// The registry's configuration file: another `docker-registry` started with it (in a
    /// network namespace of its own) serves the same storage at the same address there.
    pub fn config_path(&self) -> std::path::PathBuf {
        self._dir.path().join("config.yml")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    /// Whether the registry serves the manifest `digest` in `repo` (a HEAD by digest).
    pub fn has_manifest(&self, repo: &str, digest: &Digest) -> bool {
        self.with_auth(
            self.agent
                .head(&self.url(&format!("/v2/{repo}/manifests/{digest}"))),
        )
        .header("Accept", OCI_MANIFEST)
        .call()
        .is_ok_and(|r| r.status().as_u16() == 200)
    }

    /// Uploads a blob (monolithic POST + PUT) and returns its digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let digest = sha256_bytes(data);
        let r = self
            .with_auth(
                self.agent
                    .post(&self.url(&format!("/v2/{repo}/blobs/uploads/"))),
            )
            .send_empty()
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "start upload");
        let location = r
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let location = if location.starts_with('/') {
            self.url(&location)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let r = self
            .with_auth(self.agent.put(&format!("{location}{sep}digest={digest}")))
            .header("Content-Type", "application/octet-stream")
            .send(data)
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "finish upload");
        digest
    }

    /// Puts a manifest under `reference` (a tag or its digest) and returns its digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Digest {
        let r = self
            .with_auth(
                self.agent
                    .put(&self.url(&format!("/v2/{repo}/manifests/{reference}"))),
            )
            .header("Content-Type", media_type)
            .send(bytes)
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "put manifest {repo}:{reference}");
        sha256_bytes(bytes)
    }

    /// Pushes a one-layer image whose content is derived from `seed` for `platform`
    /// (`os/arch`); tags it when `tag` is given. Returns (manifest digest, manifest size).
    pub fn push_image(
        &self,
        repo: &str,
        tag: Option<&str>,
        seed: &str,
        platform: &str,
    ) -> (Digest, usize) {
        let (os, arch) = platform.split_once('/').unwrap_or(("linux", platform));
        let layer = tar_one_file("seed.txt", seed.as_bytes());
        let layer_digest = self.push_blob(repo, &layer);
        let config = format!(
            r#"{{"architecture":"{arch}","os":"{os}","created":"1970-01-01T00:00:00Z","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        );
        let config_digest = self.push_blob(repo, config.as_bytes());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        let digest = sha256_bytes(manifest.as_bytes());
        let reference = tag.map_or_else(|| digest.to_string(), str::to_owned);
        self.put_manifest(repo, &reference, OCI_MANIFEST, manifest.as_bytes());
        (digest, manifest.len())
    }

    /// Pushes an image whose single uncompressed layer is `layer` (a tar), with the usual `PATH`.
    /// Returns the manifest digest.
    pub fn push_rootfs(&self, repo: &str, tag: &str, layer: &[u8]) -> Digest {
        self.push_rootfs_env(repo, tag, layer, &[])
    }

    /// Like [`TestRegistry::push_rootfs`], with `env` (`NAME=value`) in the image's `ENV`
    /// after `PATH`.
    pub fn push_rootfs_env(&self, repo: &str, tag: &str, layer: &[u8], env: &[&str]) -> Digest {
        let layer_digest = self.push_blob(repo, layer);
        let (config, manifest) = rootfs_image_env(&layer_digest, layer.len(), env);
        self.push_blob(repo, config.as_bytes());
        self.put_manifest(repo, tag, OCI_MANIFEST, manifest.as_bytes())
    }

    /// Pushes an index over already-pushed manifests `(digest, size, platform)`; `note` goes
    /// into an annotation so the same platforms can be republished under a new index digest.
    pub fn push_index(
        &self,
        repo: &str,
        tag: &str,
        entries: &[(Digest, usize, &str)],
        note: &str,
    ) -> Digest {
        let manifests: Vec<String> = entries
            .iter()
            .map(|(d, size, p)| {
                let (os, arch) = p.split_once('/').unwrap_or(("linux", p));
                format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":{size},"platform":{{"architecture":"{arch}","os":"{os}"}}}}"#)
            })
            .collect();
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}],"annotations":{{"org.example.note":"{note}"}}}}"#,
            manifests.join(",")
        );
        self.put_manifest(repo, tag, OCI_INDEX, index.as_bytes())
    }

    /// Deletes a manifest by digest (`storage.delete.enabled`).
    pub fn delete_manifest(&self, repo: &str, digest: &Digest) {
        let r = self
            .with_auth(
                self.agent
                    .delete(&self.url(&format!("/v2/{repo}/manifests/{digest}"))),
            )
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "delete {repo}@{digest}");
    }
}

/// Writes `text` to `path`, for test fixtures.
pub fn write(path: &std::path::Path, text: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::File::create(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// A deterministic root filesystem layer: Debian's static busybox as `/bin/busybox` with a
/// symlink per applet, and empty `/tmp`, `/var/tmp`, `/build`. Same bytes on every run.
pub fn busybox_layer() -> Vec<u8> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("busybox-static is not installed (cargo xtask test installs it)");
    let binary = std::fs::read(busybox).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    let mut applets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|a| a != "busybox")
        .collect();
    applets.sort();
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path(path).unwrap();
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
    };
    for (d, mode) in [
        ("bin/", 0o755),
        ("build/", 0o755),
        ("tmp/", 0o1777),
        ("var/", 0o755),
        ("var/tmp/", 0o1777),
    ] {
        dir(&mut b, d, mode);
    }
    let mut h = tar::Header::new_ustar();
    h.set_path("bin/busybox").unwrap();
    h.set_mode(0o755);
    h.set_size(binary.len() as u64);
    h.set_mtime(0);
    h.set_cksum();
    b.append(&h, binary.as_slice()).unwrap();
    for a in applets {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_path(format!("bin/{a}")).unwrap();
        h.set_link_name("busybox").unwrap();
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
    }
    b.into_inner().unwrap()
}

#[cfg(test)]
mod tests {
    /// `cargo xtask dist` pins reprove's build image by this computation: a change to the config
    /// or manifest it writes would make every tag pinned before it impossible to rebuild.
    #[test]
    fn the_rootfs_image_digest_is_frozen() {
        assert_eq!(
            super::rootfs_image_digest(b"").to_string(),
            "sha256:4e776529d6de9834d9ebde7d94af86debaebdea986cbaebdd10da1fcbc2a9d0f"
        );
    }
}
