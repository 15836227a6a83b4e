//! Evidence in an OCI registry: `release --push`, then `verify`, `report`, `status` and
//! `pull-evidence` reading it back from a real docker-registry on loopback, and a registry
//! that swaps evidence caught.

use std::path::Path;

use reprove_oci::registry::{ClientOptions, OCI_MANIFEST, RegistryClient};
use reprove_oci::testing::TestRegistry;
use serde_json::Value;

use crate::release::{BUILD, Release};

/// Every file under `dir` with its bytes, sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// `v1.0.0` released and pushed to a registry of its own: the registry, the repository
/// (`oci://…/tiny/evidence`), the published folder and the reference the release printed.
fn pushed_release(r: &Release) -> (TestRegistry, String, String, String) {
    let reg = TestRegistry::start();
    let repo = format!("oci://{}/tiny/evidence", reg.host);
    let dist = r.publish("v1.0.0", "dist");
    let out = r.expect(
        &[
            "release",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.key"),
            "--push",
            &repo,
        ],
        0,
    );
    let pushed = out
        .lines()
        .find_map(|l| l.strip_prefix("pushed: "))
        .unwrap_or_else(|| panic!("no `pushed:` line: {out}"))
        .to_owned();
    (reg, repo, dist, pushed)
}

fn client() -> RegistryClient {
    RegistryClient::new(ClientOptions {
        auth_file: Some("/nonexistent".into()),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn evidence_pushed_with_the_release_is_verified_reported_and_pulled_from_the_registry() {
    let Some(r) = Release::new(BUILD, true) else {
        return;
    };
    let (reg, repo, dist, pushed_line) = pushed_release(&r);
    let pushed_line = pushed_line.as_str();
    let kpub = r.p("k.pub");
    let verify = |extra: &[&str]| {
        let mut a = vec![
            "verify",
            "v1.0.0",
            "--evidence",
            &repo,
            "--artifacts",
            &dist,
            "--key",
            &kpub,
        ];
        a.extend_from_slice(extra);
        r.run(&a)
    };
    let status_json = || {
        let (code, json, err) = r.run(&[
            "status",
            "--evidence-root",
            &repo,
            "--key",
            &kpub,
            "--format",
            "json",
        ]);
        let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}{err}"));
        (code, json, v)
    };
    let verify_ok = |extra: &[&str]| {
        let (code, out, err) = verify(extra);
        assert_eq!(code, 0, "{out}{err}");
        out
    };
    assert!(
        pushed_line.starts_with(&format!("{repo}:v1.0.0@sha256:")),
        "{pushed_line}"
    );
    // The local folder goes: everything below reads the registry's copy only.
    let original = files(&r.evidence("v1.0.0"));
    std::fs::rename(r.evidence("v1.0.0"), r.p("evidence-kept")).unwrap();

    let out = verify_ok(&[]);
    assert!(
        out.contains(&format!("with the evidence in `{pushed_line}`"))
            && out.contains("verdict: verified"),
        "{out}"
    );
    // The temporary copy is gone afterwards; the JSON names the registry, not a path.
    let (code, json, _) = verify(&["--format", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["evidence"], pushed_line);
    assert!(!json.contains("reprove-evidence-"), "{json}");

    let record = r.p("record.md");
    r.expect(
        &[
            "report",
            "v1.0.0",
            "--evidence",
            &repo,
            "--key",
            &r.p("k.pub"),
            "--artifacts",
            &dist,
            "--format",
            "markdown",
            "-o",
            &record,
        ],
        0,
    );
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(text.contains(pushed_line), "the record names its evidence");
    assert!(!text.contains("reprove-evidence-"));

    let (code, json, v) = status_json();
    assert_eq!(code, 0, "{json}");
    assert_eq!(v["evidenceRoot"], repo);
    assert_eq!(v["releases"][0]["tag"], "v1.0.0");
    assert_eq!(v["releases"][0]["state"], "verified", "{v:#}");
    assert_eq!(v["releases"][0]["evidence"], pushed_line);

    // pull-evidence gives the folder back byte for byte, and never over an existing one.
    let pulled = r.p("audit/v1.0.0");
    r.expect(
        &["pull-evidence", &format!("{repo}:v1.0.0"), "--out", &pulled],
        0,
    );
    assert_eq!(files(Path::new(&pulled)), original);
    let (code, _, err) = r.run(&["pull-evidence", &format!("{repo}:v1.0.0"), "--out", &pulled]);
    assert_eq!(code, 2);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    // Every release at once, under a root.
    r.expect(&["pull-evidence", &repo, "--out", &r.p("all")], 0);
    assert_eq!(files(&Path::new(&r.p("all")).join("v1.0.0")), original);

    // Someone with push access swaps the build log: the pull is self-consistent, the
    // signed index is not, and verify and status say so.
    let c = client();
    let image = format!("{}/tiny/evidence", reg.host).parse().unwrap();
    let m = c.get_manifest(&image, "v1.0.0").unwrap().unwrap();
    let mut v: Value = serde_json::from_slice(&m.bytes).unwrap();
    let forged = b"a calmer build log\n";
    let d = c.push_blob(&image, forged).unwrap();
    for l in v["layers"].as_array_mut().unwrap() {
        if l["annotations"]["org.opencontainers.image.title"] == "build.log" {
            l["digest"] = d.to_string().into();
            l["size"] = forged.len().into();
        }
    }
    c.push_manifest(
        &image,
        "v1.0.0",
        OCI_MANIFEST,
        &serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
    let (code, out, err) = verify(&[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("digest-mismatch") && out.contains("build.log"),
        "{out}"
    );
    let (code, _, v) = status_json();
    assert_eq!(code, 1);
    assert_eq!(v["releases"][0]["state"], "invalid", "{v:#}");

    // The genuine folder does not replace it without --force; with it, all is well again.
    let (code, _, err) = r.run(&["push-evidence", &r.p("evidence-kept"), "--to", &repo]);
    assert_eq!(code, 2);
    assert!(err.contains("already holds other evidence"), "{err}");
    r.expect(
        &[
            "push-evidence",
            &r.p("evidence-kept"),
            "--to",
            &repo,
            "--force",
        ],
        0,
    );
    verify_ok(&[]);

    // A manifest whose layer lies about its size: a verification's pull (gated by the signed
    // index) does not download a file whose size is not the signed one, and the release is
    // invalid with the reason; an offline copy cannot be pulled at all.
    let m = c.get_manifest(&image, "v1.0.0").unwrap().unwrap();
    let mut v: Value = serde_json::from_slice(&m.bytes).unwrap();
    v["layers"][0]["size"] = 3.into();
    c.push_manifest(
        &image,
        "v1.0.0",
        OCI_MANIFEST,
        &serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
    let (code, _, v) = status_json();
    assert_eq!(code, 1);
    assert_eq!(v["releases"][0]["state"], "invalid", "{v:#}");
    assert!(
        v["releases"][0]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["code"] == "digest-mismatch"
                && p["message"]
                    .as_str()
                    .unwrap()
                    .contains("is 3 bytes but the index lists")),
        "{v:#}"
    );
    let (code, out, err) = verify(&[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("is 3 bytes but the index lists"), "{out}");
    assert!(err.contains("1 file(s) not downloaded"), "{err}");
    let (code, _, err) = r.run(&[
        "pull-evidence",
        &format!("{repo}:v1.0.0"),
        "--out",
        &r.p("lying-copy"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("larger than the 3 bytes allowed"), "{err}");
    assert!(!r.f.path("lying-copy").exists());

    // Two git tags that share one OCI tag (`+` is not allowed there): the evidence is
    // pulled once and counts for the tag it names; the other is invalid, never untracked.
    r.expect(
        &[
            "push-evidence",
            &r.p("evidence-kept"),
            "--to",
            &repo,
            "--force",
        ],
        0,
    );
    r.f.git(&["tag", "v1.0.0+b"]);
    r.f.git(&["tag", "v1.0.0-b"]);
    r.expect(
        &[
            "release",
            "v1.0.0+b",
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.key"),
            "--push",
            &repo,
        ],
        0,
    );
    let (code, json, v) = status_json();
    assert_eq!(code, 1, "{json}{err}");
    let state = |tag: &str| {
        v["releases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["tag"] == tag)
            .map(|r| r["state"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(state("v1.0.0+b"), "verified", "{v:#}");
    assert_eq!(state("v1.0.0-b"), "invalid", "{v:#}");
    assert_eq!(state("v1.0.0"), "verified", "{v:#}");
    assert!(json.contains("share it"), "{json}");

    // Usage mistakes: Docker Hub by default, a release named where a repository is wanted.
    let (code, _, err) = r.run(&[
        "push-evidence",
        &r.p("evidence-kept"),
        "--to",
        "oci://tiny/evidence",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("name the registry host"), "{err}");
    let (code, _, err) = r.run(&[
        "push-evidence",
        &r.p("evidence-kept"),
        "--to",
        &format!("{repo}:v1.0.0"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("the tag comes from the evidence"), "{err}");
}

/// Interop with the JavaScript Sigstore stack: a second rebuilder's provenance attached to
/// the release's evidence with `@sigstore/oci` (as actions/attest attaches) counts toward
/// `--require 2`; and what reprove pushed is found by the referrers convention and verified
/// by `@sigstore/verify`. Both against a real registry on loopback.
#[test]
fn bundles_attached_with_sigstore_oci_count_and_reproves_are_found_by_javascript() {
    let Some(r) = Release::new(BUILD, true) else {
        return;
    };
    let Some(modules) = crate::support::sigstore_js() else {
        return;
    };
    let (reg, repo, dist, pushed) = pushed_release(&r);
    let subject = pushed.rsplit_once('@').unwrap().1.to_owned();
    let node = |args: &[&Path]| crate::support::interop("node", &[("NODE_PATH", &modules)], args);

    // reprove → JavaScript: the three bundles, found through the fallback tag and verified.
    let out = node(&[
        Path::new("sigstore_oci.js"),
        Path::new("discover"),
        Path::new(&reg.host),
        Path::new("tiny/evidence"),
        Path::new(&subject),
        &r.f.path("k.pub"),
    ]);
    assert!(out.contains("verified 3"), "{out}");
    assert!(out.contains("https://slsa.dev/provenance/v1"), "{out}");

    // JavaScript → reprove: a second rebuilder attests on its own and attaches with
    // @sigstore/oci; verify counts it from the registry alone.
    let two = [
        "verify",
        "v1.0.0",
        "--evidence",
        &repo,
        "--artifacts",
        &dist,
        "--key",
        &r.p("k.pub"),
        "--rebuilder-key",
        &r.p("other.pub"),
        "--require",
        "2",
    ];
    let (code, out, _) = r.run(&two);
    assert_eq!(code, 1, "one signer before the attachment: {out}");
    let second = r.p("second.sigstore.json");
    r.second_rebuilder(&dist, &second);
    let out = node(&[
        Path::new("sigstore_oci.js"),
        Path::new("attach"),
        Path::new(&reg.host),
        Path::new("tiny/evidence"),
        Path::new(&subject),
        Path::new(&second),
    ]);
    assert!(out.contains("attached sha256:"), "{out}");
    let (code, out, err) = r.run(&two);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("2 independent signer(s) agree (2 required)"),
        "{out}"
    );
    // Both sides see four bundles now, each verified with its signer's key.
    let out = node(&[
        Path::new("sigstore_oci.js"),
        Path::new("discover"),
        Path::new(&reg.host),
        Path::new("tiny/evidence"),
        Path::new(&subject),
        &r.f.path("k.pub"),
        &r.f.path("other.pub"),
    ]);
    assert!(out.contains("verified 4"), "{out}");
    // pull-evidence keeps the attached provenance for the offline audit, where it counts.
    let pulled = r.p("audit/v1.0.0");
    r.expect(
        &["pull-evidence", &format!("{repo}:v1.0.0"), "--out", &pulled],
        0,
    );
    let added: Vec<String> = std::fs::read_dir(&pulled)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("provenance-oci-"))
        .collect();
    assert_eq!(added.len(), 1, "{added:?}");
    let mut offline = two.to_vec();
    offline[3] = &pulled;
    let (code, out, _) = r.run(&offline);
    assert_eq!(code, 0, "{out}");
    // Junk attached by anyone with push access is skipped, not fatal.
    std::fs::write(r.p("junk.json"), br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]},"verificationMaterial":{"publicKey":{"hint":"x"}}}"#).unwrap();
    node(&[
        Path::new("sigstore_oci.js"),
        Path::new("attach"),
        Path::new(&reg.host),
        Path::new("tiny/evidence"),
        Path::new(&subject),
        &r.f.path("junk.json"),
    ]);
    let (code, out, _) = r.run(&two);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("not counted") || out.contains("provenance-oci-"),
        "{out}"
    );
}
