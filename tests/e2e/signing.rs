//! `reprove sign` and `reprove verify-bundle` on reprove's own bundles, on bundles made by
//! other tools, and on damaged input.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Fixture, interop, python_with, sigstore_js, stderr, vectors};

const ARTIFACT: &[u8] = include_bytes!("../fixtures/artifact.txt");

fn setup() -> Fixture {
    let f = Fixture::new();
    std::fs::write(
        f.path("statement.json"),
        include_bytes!("../fixtures/statement.json"),
    )
    .unwrap();
    std::fs::write(f.path("artifact.txt"), ARTIFACT).unwrap();
    for (alg, prefix) in [("p256", "p"), ("ed25519", "e")] {
        let out = f.reprove_in(
            f.dir.path(),
            &[
                "key",
                "generate",
                "--no-password",
                "--algorithm",
                alg,
                "--output",
                prefix,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    f
}

fn run(f: &Fixture, args: &[&str]) -> std::process::Output {
    f.reprove_in(f.dir.path(), args)
}

fn sha256_arg(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

fn verify(f: &Fixture, bundle: &str, key: &str, artifact: &str) -> (i32, String) {
    let out = run(
        f,
        &["verify-bundle", "--bundle", bundle, "--key", key, artifact],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    (out.status.code().unwrap(), text)
}

#[test]
fn sign_and_verify_round_trip_both_algorithms() {
    let f = setup();
    for k in ["p", "e"] {
        let bundle = format!("{k}.bundle.json");
        let out = run(
            &f,
            &[
                "sign",
                "statement.json",
                "--key",
                &format!("{k}.key"),
                "-o",
                &bundle,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let b: Value = serde_json::from_slice(&std::fs::read(f.path(&bundle)).unwrap()).unwrap();
        assert_eq!(
            b["mediaType"],
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        assert_eq!(
            b["verificationMaterial"]["tlogEntries"],
            serde_json::json!([])
        );
        assert_eq!(
            b["dsseEnvelope"]["payloadType"],
            "application/vnd.in-toto+json"
        );
        assert_eq!(b["dsseEnvelope"]["signatures"].as_array().unwrap().len(), 1);
        // The payload is the statement file's exact bytes.
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::STANDARD
            .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        assert_eq!(payload, include_bytes!("../fixtures/statement.json"));

        let key = format!("{k}.pub");
        let (code, text) = verify(&f, &bundle, &key, "artifact.txt");
        assert_eq!(code, 0, "{text}");
        assert!(text.starts_with("verified"), "{text}");
        let (code, text) = verify(&f, &bundle, &key, &sha256_arg(ARTIFACT));
        assert_eq!(code, 0, "digest form: {text}");
        // JSON for machines.
        let out = run(
            &f,
            &[
                "verify-bundle",
                "--bundle",
                &bundle,
                "--key",
                &key,
                "--format",
                "json",
                "artifact.txt",
            ],
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["verified"], true);
        let checks: Vec<&str> = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(checks, ["signature", "statement", "artifact"]);
        assert_eq!(
            v["statement"]["predicateType"],
            "https://slsa.dev/provenance/v1"
        );
    }
}

#[test]
fn tampering_wrong_keys_and_wrong_artifacts_are_rejected() {
    let f = setup();
    assert_eq!(
        run(
            &f,
            &["sign", "statement.json", "--key", "p.key", "-o", "b.json"]
        )
        .status
        .code(),
        Some(0)
    );
    let original: Value =
        serde_json::from_slice(&std::fs::read(f.path("b.json")).unwrap()).unwrap();
    let write = |name: &str, v: &Value| {
        std::fs::write(f.path(name), serde_json::to_vec(v).unwrap()).unwrap()
    };

    // A different statement under the old signature.
    use base64::Engine as _;
    let e = base64::engine::general_purpose::STANDARD;
    let mut t = original.clone();
    let forged = String::from_utf8(include_bytes!("../fixtures/statement.json").to_vec())
        .unwrap()
        .replace("test-1", "test-2");
    t["dsseEnvelope"]["payload"] = Value::String(e.encode(forged));
    write("tampered.json", &t);
    let (code, text) = verify(&f, "tampered.json", "p.pub", "artifact.txt");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("DSSE signature: the signature does not match"),
        "{text}"
    );

    // A changed payload type.
    let mut t = original.clone();
    t["dsseEnvelope"]["payloadType"] = Value::String("application/json".into());
    write("type.json", &t);
    assert_eq!(verify(&f, "type.json", "p.pub", "artifact.txt").0, 1);

    // A flipped signature bit.
    let mut t = original.clone();
    let mut sig = e
        .decode(t["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    t["dsseEnvelope"]["signatures"][0]["sig"] = Value::String(e.encode(sig));
    write("sig.json", &t);
    assert_eq!(verify(&f, "sig.json", "p.pub", "artifact.txt").0, 1);

    // Two signatures in one bundle.
    let mut t = original.clone();
    let s0 = t["dsseEnvelope"]["signatures"][0].clone();
    t["dsseEnvelope"]["signatures"]
        .as_array_mut()
        .unwrap()
        .push(s0);
    write("two.json", &t);
    let (code, text) = verify(&f, "two.json", "p.pub", "artifact.txt");
    assert_eq!(code, 1);
    assert!(text.contains("exactly one signature"), "{text}");

    // The wrong key, of either algorithm.
    let (code, text) = verify(&f, "b.json", "e.pub", "artifact.txt");
    assert_eq!(code, 1, "{text}");
    let out = run(
        &f,
        &["key", "generate", "--no-password", "--output", "other"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(verify(&f, "b.json", "other.pub", "artifact.txt").0, 1);

    // The wrong artifact, by file and by digest.
    std::fs::write(f.path("other.txt"), b"not the release").unwrap();
    let (code, text) = verify(&f, "b.json", "p.pub", "other.txt");
    assert_eq!(code, 1);
    assert!(
        text.contains("matches none of the statement's 1 subjects"),
        "{text}"
    );
    assert_eq!(verify(&f, "b.json", "p.pub", &sha256_arg(b"x")).0, 1);

    // Unusable input: exit 2 for what cannot be read or is not JSON at all (regression, issue
    // 11: it was 1), 1 for a bundle that is wrong.
    assert_eq!(verify(&f, "missing.json", "p.pub", "artifact.txt").0, 2);
    assert_eq!(
        verify(&f, "b.json", "p.key", "artifact.txt").0,
        2,
        "a private key is not a public key"
    );
    assert_eq!(verify(&f, "b.json", "p.pub", "no-such-artifact").0, 2);
    std::fs::write(f.path("garbage.json"), b"{\"mediaType\":").unwrap();
    assert_eq!(verify(&f, "garbage.json", "p.pub", "artifact.txt").0, 2);
    let mut t = original.clone();
    t["mediaType"] = Value::String("application/vnd.dev.sigstore.bundle.v9+json".into());
    write("version.json", &t);
    let (code, text) = verify(&f, "version.json", "p.pub", "artifact.txt");
    assert_eq!(code, 1);
    assert!(text.contains("unsupported bundle media type"), "{text}");
    // A key-signed bundle checked against an identity is rejected, not trusted.
    let out = run(
        &f,
        &[
            "verify-bundle",
            "--bundle",
            "b.json",
            "--certificate-identity",
            "x",
            "--certificate-oidc-issuer",
            "y",
            "artifact.txt",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn sign_refuses_invalid_statements_and_existing_outputs() {
    let f = setup();
    let cases: [(&str, &[u8], &str); 5] = [
        ("notjson.json", b"{", "not JSON"),
        // Regression (issue 11): a key twice reads differently in different verifiers.
        ("dup.json", br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"p","predicateType":"q","predicate":{}}"#, "appears twice"),
        ("v01.json", br#"{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"p","predicate":{}}"#, "reprove signs in-toto Statement v1"),
        ("nodigest.json", br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a"}],"predicateType":"p","predicate":{}}"#, "has no digest"),
        ("upper.json", br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"AB"}}],"predicateType":"p","predicate":{}}"#, "not lowercase hex"),
    ];
    for (name, content, want) in cases {
        std::fs::write(f.path(name), content).unwrap();
        let out = run(&f, &["sign", name, "--key", "p.key", "-o", "out.json"]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(stderr(&out).contains(want), "{name}: {}", stderr(&out));
        assert!(!f.path("out.json").exists());
    }
    assert_eq!(
        run(
            &f,
            &["sign", "statement.json", "--key", "p.key", "-o", "out.json"]
        )
        .status
        .code(),
        Some(0)
    );
    let first = std::fs::read(f.path("out.json")).unwrap();
    let out = run(
        &f,
        &["sign", "statement.json", "--key", "e.key", "-o", "out.json"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(f.path("out.json")).unwrap(), first);
}

#[test]
fn bundles_from_other_tools_verify() {
    let Some(vectors) = vectors() else { return };
    let f = Fixture::new();
    let v = vectors.path().to_path_buf();
    let artifact = v.join("sslib/artifact.txt");
    // securesystemslib envelopes wrapped with model-signing's hex-of-PEM key hint.
    for stem in ["slsa", "baseline"] {
        for alg in ["ecdsa-p256", "ed25519"] {
            let out = f.reprove_in(
                f.dir.path(),
                &[
                    "verify-bundle",
                    "--bundle",
                    v.join(format!("bundles/{stem}.{alg}.bundle.json"))
                        .to_str()
                        .unwrap(),
                    "--key",
                    v.join(format!("sslib/{alg}.pub.pem")).to_str().unwrap(),
                    artifact.to_str().unwrap(),
                ],
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "{stem}.{alg}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                stderr(&out)
            );
            assert!(
                !String::from_utf8_lossy(&out.stdout).contains("names a different key"),
                "the hex-of-PEM hint is recognised"
            );
        }
    }
    // A real model-signing bundle; its subject is the model's manifest digest.
    let ms = v.join("model-signing/model.sig.bundle.json");
    let b: Value = serde_json::from_slice(&std::fs::read(&ms).unwrap()).unwrap();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let st: Value = serde_json::from_slice(&payload).unwrap();
    let digest = format!(
        "sha256:{}",
        st["subject"][0]["digest"]["sha256"].as_str().unwrap()
    );
    let out = f.reprove_in(
        f.dir.path(),
        &[
            "verify-bundle",
            "--bundle",
            ms.to_str().unwrap(),
            "--key",
            v.join("sslib/ecdsa-p256.pub.pem").to_str().unwrap(),
            &digest,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

#[test]
fn independent_verifiers_accept_what_reprove_writes() {
    let f = setup();
    let p = |name: &str| -> PathBuf { f.path(name) };
    for k in ["p", "e"] {
        assert_eq!(
            run(
                &f,
                &[
                    "sign",
                    "statement.json",
                    "--key",
                    &format!("{k}.key"),
                    "-o",
                    &format!("{k}.bundle.json")
                ]
            )
            .status
            .code(),
            Some(0)
        );
        assert_eq!(
            run(
                &f,
                &[
                    "sign",
                    "statement.json",
                    "--key",
                    &format!("{k}.key"),
                    "-o",
                    &format!("{k}.dsse.json"),
                    "--dsse"
                ]
            )
            .status
            .code(),
            Some(0)
        );
        if let Some(py) = python_with("securesystemslib.dsse") {
            let out = interop(
                &py,
                &[],
                &[
                    Path::new("sslib_verify.py"),
                    &p(&format!("{k}.dsse.json")),
                    &p(&format!("{k}.pub")),
                ],
            );
            assert!(out.contains("verified"));
            interop(
                &py,
                &[],
                &[
                    Path::new("sslib_verify.py"),
                    &p(&format!("{k}.bundle.json")),
                    &p(&format!("{k}.pub")),
                ],
            );
        }
        if let Some(modules) = sigstore_js() {
            let out = interop(
                "node",
                &[("NODE_PATH", &modules)],
                &[
                    Path::new("sigstore_verify.js"),
                    &p(&format!("{k}.bundle.json")),
                    &p(&format!("{k}.pub")),
                ],
            );
            assert!(out.contains("verified"));
        }
        if let Some(py) = python_with("in_toto_attestation") {
            let out = interop(
                &py,
                &[],
                &[
                    Path::new("attestation_validate.py"),
                    &p(&format!("{k}.bundle.json")),
                ],
            );
            assert!(out.contains("SLSA provenance v1"), "{out}");
        }
    }
}

#[test]
fn a_signed_baseline_verifies_against_its_artifacts() {
    let f = crate::baseline::rich();
    let dist = f.path("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("infusion-ctl"), b"the released binary").unwrap();
    let out = f.reprove(&[
        "baseline",
        "v1.0.0",
        "--artifacts",
        dist.to_str().unwrap(),
        "-o",
        f.path("baseline.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let k = f.reprove_in(
        f.dir.path(),
        &["key", "generate", "--no-password", "--output", "rel"],
    );
    assert_eq!(k.status.code(), Some(0));
    let s = f.reprove_in(
        f.dir.path(),
        &[
            "sign",
            "baseline.json",
            "--key",
            "rel.key",
            "-o",
            "baseline.sigstore.json",
        ],
    );
    assert_eq!(s.status.code(), Some(0), "{}", stderr(&s));
    let (code, text) = verify(
        &f,
        "baseline.sigstore.json",
        "rel.pub",
        dist.join("infusion-ctl").to_str().unwrap(),
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("https://reprove.dev/baseline/v0.1"));
    if let Some(py) = python_with("in_toto_attestation") {
        let out = interop(
            &py,
            &[],
            &[
                Path::new("attestation_validate.py"),
                &f.path("baseline.sigstore.json"),
            ],
        );
        assert!(out.contains("https://reprove.dev/baseline/v0.1"), "{out}");
    }
}

#[test]
fn offline_message_signatures_made_by_openssl() {
    if !crate::support::require_tool("openssl") {
        return;
    }
    let f = setup();
    use base64::Engine as _;
    use sha2::Digest as _;
    let e = base64::engine::general_purpose::STANDARD;
    for (k, openssl_args) in [
        (
            "p",
            vec![
                "dgst",
                "-sha256",
                "-sign",
                "p.key",
                "-out",
                "p.sig",
                "artifact.txt",
            ],
        ),
        (
            "e",
            vec![
                "pkeyutl",
                "-sign",
                "-rawin",
                "-inkey",
                "e.key",
                "-in",
                "artifact.txt",
                "-out",
                "e.sig",
            ],
        ),
    ] {
        let st = std::process::Command::new("openssl")
            .current_dir(f.dir.path())
            .args(&openssl_args)
            .status()
            .unwrap();
        assert!(st.success(), "openssl {openssl_args:?}");
        let sig = std::fs::read(f.path(&format!("{k}.sig"))).unwrap();
        let bundle = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": { "publicKey": { "hint": "" }, "tlogEntries": [] },
            "messageSignature": {
                "messageDigest": { "algorithm": "SHA2_256", "digest": e.encode(sha2::Sha256::digest(ARTIFACT)) },
                "signature": e.encode(&sig),
            },
        });
        let name = format!("{k}.msg.json");
        std::fs::write(f.path(&name), serde_json::to_vec(&bundle).unwrap()).unwrap();
        let key = format!("{k}.pub");
        let (code, text) = verify(&f, &name, &key, "artifact.txt");
        assert_eq!(code, 0, "{k}: {text}");
        assert!(text.contains("message signature"), "{text}");
        std::fs::write(f.path("other.txt"), b"other").unwrap();
        let (code, text) = verify(&f, &name, &key, "other.txt");
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("does not match the artifact"), "{text}");
        let (code, text) = verify(&f, &name, &key, &sha256_arg(ARTIFACT));
        // P-256 verifies a digest; Ed25519 signs the bytes themselves, so a digest cannot do.
        assert_eq!(code, if k == "p" { 0 } else { 2 }, "{k}: {text}");
    }
}
