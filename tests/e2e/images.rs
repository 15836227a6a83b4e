//! `reprove images check|pin` against a real CNCF Distribution registry on loopback
//! (Debian's `docker-registry`), with images the test builds and pushes itself.

use std::io::{Read as _, Write as _};

use reprove_oci::testing::TestRegistry;
use serde_json::Value;

use crate::support::{Fixture, require_tool, stderr};

fn registry() -> Option<TestRegistry> {
    require_tool("docker-registry").then(TestRegistry::start)
}

fn run(f: &Fixture, args: &[&str]) -> (i32, String, String) {
    let out = f.reprove_in(f.dir.path(), args);
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

fn verdicts(json: &str) -> Vec<(String, u64, String)> {
    let v: Value = serde_json::from_str(json).unwrap();
    v["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_owned(),
                r["line"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_verdict_against_a_real_registry() {
    let Some(reg) = registry() else { return };
    let h = &reg.host;
    let (ok, _) = reg.push_image("app/ok", Some("1.0"), "ok", "linux/amd64");
    let (moved_old, _) = reg.push_image("app/moved", Some("1.0"), "old", "linux/amd64");
    reg.push_image("app/moved", Some("1.0"), "new", "linux/amd64");
    let (gone, _) = reg.push_image("app/gone", Some("1.0"), "gone", "linux/amd64");
    reg.delete_manifest("app/gone", &gone);
    let (amd, amd_size) = reg.push_image("app/multi", None, "amd", "linux/amd64");
    let (arm, arm_size) = reg.push_image("app/multi", None, "arm", "linux/arm64");
    let entries = [
        (amd.clone(), amd_size, "linux/amd64"),
        (arm.clone(), arm_size, "linux/arm64"),
    ];
    let first_index = reg.push_index("app/multi", "2.0", &entries, "first");
    let second_index = reg.push_index("app/multi", "2.0", &entries, "republished");
    assert_ne!(first_index, second_index);
    // An index whose amd64 manifest really changed.
    let (amd2, amd2_size) = reg.push_image("app/multi2", None, "amd-v1", "linux/amd64");
    let old_multi2 = reg.push_index(
        "app/multi2",
        "3.0",
        &[(amd2, amd2_size, "linux/amd64")],
        "v1",
    );
    let (amd3, amd3_size) = reg.push_image("app/multi2", None, "amd-v2", "linux/amd64");
    reg.push_index(
        "app/multi2",
        "3.0",
        &[(amd3, amd3_size, "linux/amd64")],
        "v2",
    );

    let f = Fixture::new();
    let dockerfile = format!(
        "# build stage\nFROM {h}/app/ok:1.0@{ok} AS build\nFROM --platform=linux/amd64 {h}/app/multi:2.0@{first_index}\nFROM build\n"
    );
    std::fs::write(f.path("Dockerfile"), dockerfile).unwrap();
    let compose = format!(
        "services:\n  moved:\n    image: {h}/app/moved:1.0@{moved_old}\n  gone:\n    image: \"{h}/app/gone:1.0@{gone}\"\n  latest:\n    image: {h}/app/ok:1.0\n  changed:\n    image: {h}/app/multi2:3.0@{old_multi2}\n  bydigest:\n    image: {h}/app/ok@{ok}\n"
    );
    std::fs::write(f.path("compose.yml"), compose).unwrap();

    let (code, out, err) = run(
        &f,
        &[
            "images",
            "check",
            "Dockerfile",
            "compose.yml",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        verdicts(&out),
        [
            ("Dockerfile".into(), 2, "ok".into()),
            ("Dockerfile".into(), 3, "index-republished".into()),
            ("compose.yml".into(), 3, "tag-moved".into()),
            ("compose.yml".into(), 5, "digest-missing".into()),
            ("compose.yml".into(), 7, "unpinned-image".into()),
            ("compose.yml".into(), 9, "tag-moved".into()),
            ("compose.yml".into(), 11, "ok".into()),
        ]
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["references"][1]["current"], second_index.to_string());
    assert!(
        v["references"][1]["message"]
            .as_str()
            .unwrap()
            .contains("unchanged")
    );

    // Text for people, with file:line:column.
    let (code, text, _) = run(&f, &["images", "check", "Dockerfile", "compose.yml"]);
    assert_eq!(code, 1);
    assert!(text.contains("compose.yml:5:13   digest-missing"), "{text}");
    assert!(text.contains("7 references: 1 digest-missing, 1 index-republished, 2 ok, 2 tag-moved, 1 unpinned-image"), "{text}");

    // SARIF 2.1.0 for code scanning: broken pins only.
    let (_, sarif, _) = run(
        &f,
        &[
            "images",
            "check",
            "Dockerfile",
            "compose.yml",
            "--format",
            "sarif",
        ],
    );
    let s: Value = serde_json::from_str(&sarif).unwrap();
    assert_eq!(s["version"], "2.1.0");
    let results = s["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0]["ruleId"], "index-republished");
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        3
    );
    let rules: Vec<&str> = s["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for r in results {
        assert!(rules.contains(&r["ruleId"].as_str().unwrap()));
    }

    // Only good pins: exit 0.
    std::fs::write(f.path("good.yml"), format!("image: {h}/app/ok:1.0@{ok}\n")).unwrap();
    let (code, out, err) = run(&f, &["images", "check", "good.yml"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn pin_rewrites_in_place_idempotently_keeping_formatting() {
    let Some(reg) = registry() else { return };
    let h = &reg.host;
    let (ok, _) = reg.push_image("app/ok", Some("1.0"), "ok", "linux/amd64");
    reg.push_image("app/ok", Some("latest"), "ok", "linux/amd64");
    let (amd, s1) = reg.push_image("app/multi", None, "amd", "linux/amd64");
    let (arm, s2) = reg.push_image("app/multi", None, "arm", "linux/arm64");
    let index = reg.push_index(
        "app/multi",
        "2.0",
        &[(amd, s1, "linux/amd64"), (arm, s2, "linux/arm64")],
        "x",
    );
    let f = Fixture::new();
    let dockerfile = format!(
        "ARG BASE={h}/app/ok\nFROM {h}/app/ok:1.0   # the base\nFROM ${{BASE}}:1.0\nFROM {h}/app/multi:2.0 AS multi\n"
    );
    std::fs::write(f.path("Dockerfile"), &dockerfile).unwrap();
    let compose = format!("services:\n  web:\n    image: \"{h}/app/ok\"   # comment kept\n");
    std::fs::write(f.path("compose.yml"), &compose).unwrap();

    // --dry-run shows the diff and writes nothing.
    let (code, diff, err) = run(
        &f,
        &["images", "pin", "--dry-run", "Dockerfile", "compose.yml"],
    );
    assert!(
        code == 1,
        "the ARG reference cannot be pinned in place: {err}"
    );
    assert!(
        diff.contains(&format!("+FROM {h}/app/ok:1.0@{ok}   # the base")),
        "{diff}"
    );
    assert!(err.contains("not written literally here"), "{err}");
    assert_eq!(
        std::fs::read_to_string(f.path("Dockerfile")).unwrap(),
        dockerfile
    );

    let (_, _, err) = run(&f, &["images", "pin", "Dockerfile", "compose.yml"]);
    assert!(err.contains("pinned 3 references in 2 files"), "{err}");
    let pinned = std::fs::read_to_string(f.path("Dockerfile")).unwrap();
    assert_eq!(
        pinned,
        format!(
            "ARG BASE={h}/app/ok\nFROM {h}/app/ok:1.0@{ok}   # the base\nFROM ${{BASE}}:1.0\nFROM {h}/app/multi:2.0@{index} AS multi\n"
        ),
        "multi-arch references are pinned to the index"
    );
    assert_eq!(
        std::fs::read_to_string(f.path("compose.yml")).unwrap(),
        format!("services:\n  web:\n    image: \"{h}/app/ok:latest@{ok}\"   # comment kept\n")
    );
    // Idempotent.
    let (_, _, err) = run(&f, &["images", "pin", "Dockerfile", "compose.yml"]);
    assert!(err.contains("pinned 0 references in 0 files"), "{err}");
    assert_eq!(
        std::fs::read_to_string(f.path("Dockerfile")).unwrap(),
        pinned
    );
    // And the pins now check out.
    let (code, out, _) = run(&f, &["images", "check", "compose.yml"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn baseline_images_and_repository_scan() {
    let Some(reg) = registry() else { return };
    let h = &reg.host;
    let (old, _) = reg.push_image("base", Some("1"), "one", "linux/amd64");
    let f = Fixture::new();
    f.write("Dockerfile", format!("FROM {h}/base:1@{old}\n"));
    f.commit("pin base");
    f.tag("v1");
    f.write("untracked/notes.yml", "image: never-scanned:1\n");
    // Default: the repository's tracked files.
    let out = f.reprove(&["images", "check", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    assert_eq!(verdicts(&String::from_utf8_lossy(&out.stdout)).len(), 1);
    // The signed baseline remembers the pin; the tag then moves.
    assert_eq!(
        f.reprove_in(
            f.dir.path(),
            &["key", "generate", "--no-password", "--output", "k"]
        )
        .status
        .code(),
        Some(0)
    );
    let bundle = f.path("baseline.sigstore.json");
    let out = f.reprove(&[
        "baseline",
        "v1",
        "--sign",
        "--key",
        f.path("k.key").to_str().unwrap(),
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    reg.push_image("base", Some("1"), "two", "linux/amd64");
    let b = bundle.to_str().unwrap();
    let (code, out, err) = run(
        &f,
        &[
            "images",
            "check",
            "--baseline",
            b,
            "--key",
            f.path("k.pub").to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        verdicts(&out),
        [("Dockerfile".into(), 1, "tag-moved".into())]
    );
    // Without a key it says the signature was not checked.
    let (_, _, err) = run(&f, &["images", "check", "--baseline", b]);
    assert!(err.contains("was not checked"), "{err}");
    // With the wrong key it refuses.
    assert_eq!(
        f.reprove_in(
            f.dir.path(),
            &["key", "generate", "--no-password", "--output", "other"]
        )
        .status
        .code(),
        Some(0)
    );
    let (code, _, err) = run(
        &f,
        &[
            "images",
            "check",
            "--baseline",
            b,
            "--key",
            f.path("other.pub").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("does not verify"), "{err}");
}

/// A registry that misbehaves in one chosen way, for what a real registry will not do.
fn misbehaving(respond: impl Fn(&str) -> Vec<u8> + Send + 'static) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = s.write_all(&respond(&req));
        }
    });
    host
}

fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn registries_that_lie_fail_or_refuse_loudly() {
    let f = Fixture::new();
    let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let check = |host: &str| {
        std::fs::write(f.path("x.yml"), format!("image: {host}/app:1@{d}\n")).unwrap();
        let (code, out, err) = run(&f, &["images", "check", "x.yml", "--format", "json"]);
        let v: Value = serde_json::from_str(&out).unwrap_or_default();
        (
            code,
            v["references"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            v["references"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
                + &err,
        )
    };
    // Bytes that do not hash to the digest asked for.
    let host = misbehaving(|_| {
        http(
            "200 OK",
            "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n",
            b"{\"schemaVersion\":2}",
        )
    });
    let (code, verdict, msg) = check(&host);
    assert_eq!((code, verdict.as_str()), (1, "digest-mismatch"), "{msg}");
    // An oversized manifest.
    let host = misbehaving(|_| {
        http(
            "200 OK",
            "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n",
            &vec![b' '; 5 << 20],
        )
    });
    let (code, verdict, msg) = check(&host);
    assert_eq!((code, verdict.as_str()), (2, "registry-unreachable"));
    assert!(msg.contains("larger than 4 MiB"), "{msg}");
    // A redirect to another host.
    let host = misbehaving(|_| {
        http(
            "307 Temporary Redirect",
            "Location: http://203.0.113.7/steal\r\n",
            b"",
        )
    });
    let (code, _, msg) = check(&host);
    assert_eq!(code, 2);
    assert!(
        msg.contains("redirected") && msg.contains("refused"),
        "{msg}"
    );
    // Authentication required, no credentials.
    let host = misbehaving(|_| {
        http(
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"r\"\r\n",
            b"",
        )
    });
    let (code, _, msg) = check(&host);
    assert_eq!(code, 2);
    assert!(msg.contains("refused access"), "{msg}");
    // Rate limiting and server errors.
    let host = misbehaving(|_| http("429 Too Many Requests", "", b""));
    assert!(check(&host).2.contains("rate-limiting"));
    let host = misbehaving(|_| {
        http(
            "503 Service Unavailable",
            "",
            b"{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"down\"}]}",
        )
    });
    let (code, _, msg) = check(&host);
    assert_eq!(code, 2);
    assert!(
        msg.contains("HTTP 503") && msg.contains("UNAVAILABLE down"),
        "{msg}"
    );
    // Nobody listening.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (code, verdict, msg) = check(&dead);
    assert_eq!(
        (code, verdict.as_str()),
        (2, "registry-unreachable"),
        "{msg}"
    );
    // Malformed references: file and line, exit 2.
    std::fs::write(
        f.path("bad.yml"),
        "image: Not/Valid:Ref\nimage: ok:1@sha256:abc\n",
    )
    .unwrap();
    let (code, out, _) = run(&f, &["images", "check", "bad.yml"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("bad.yml:1:8") && out.contains("bad.yml:2:8"),
        "{out}"
    );
}

#[test]
fn basic_auth_with_a_real_registry_and_credentials_never_printed() {
    if !require_tool("docker-registry") {
        return;
    }
    let reg = TestRegistry::start_with_basic_auth("ci-bot", "hunter2-secret");
    let h = &reg.host;
    let (d, _) = reg.push_image("private/app", Some("1"), "p", "linux/amd64");
    let f = Fixture::new();
    std::fs::write(f.path("x.yml"), format!("image: {h}/private/app:1@{d}\n")).unwrap();
    use base64::Engine as _;
    let auth = |user: &str, pass: &str| {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        format!(r#"{{"auths":{{"{h}":{{"auth":"{b}"}}}}}}"#)
    };
    let run_with = |file: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
        cmd.current_dir(f.dir.path())
            .args(["images", "check", "x.yml"]);
        f.env(&mut cmd);
        if let Some(name) = file {
            cmd.env("REGISTRY_AUTH_FILE", f.path(name));
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out),
        )
    };
    std::fs::write(f.path("good.json"), auth("ci-bot", "hunter2-secret")).unwrap();
    std::fs::write(f.path("bad.json"), auth("ci-bot", "wrong-secret")).unwrap();
    let (code, text) = run_with(Some("good.json"));
    assert_eq!(code, 0, "{text}");
    let (code, text) = run_with(None);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("refused access"), "{text}");
    let (code, text) = run_with(Some("bad.json"));
    assert_eq!(code, 2, "{text}");
    for secret in ["hunter2-secret", "wrong-secret"] {
        assert!(!text.contains(secret));
    }
}

#[test]
fn bearer_tokens_from_the_token_service() {
    // CNCF Distribution's token auth needs a signing token server; this stand-in speaks the
    // same protocol (401 + `WWW-Authenticate: Bearer realm=…` → token → retry).
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
    use sha2::Digest as _;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(manifest)));
    let scopes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = scopes.clone();
    let host_cell = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let host_for_server = host_cell.clone();
    let host = misbehaving(move |req| {
        let first = req.lines().next().unwrap_or_default().to_owned();
        if first.starts_with("GET /token") {
            seen.lock().unwrap().push(first);
            return http(
                "200 OK",
                "Content-Type: application/json\r\n",
                br#"{"token":"t0k3n-value"}"#,
            );
        }
        if req.contains("Authorization: Bearer t0k3n-value")
            || req.contains("authorization: Bearer t0k3n-value")
        {
            return http(
                "200 OK",
                "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n",
                manifest,
            );
        }
        let realm = format!("http://{}/token", host_for_server.lock().unwrap());
        http(
            "401 Unauthorized",
            &format!("WWW-Authenticate: Bearer realm=\"{realm}\",service=\"fake-registry\"\r\n"),
            b"",
        )
    });
    *host_cell.lock().unwrap() = host.clone();
    let f = Fixture::new();
    std::fs::write(
        f.path("x.yml"),
        format!("image: {host}/team/app@{digest}\n"),
    )
    .unwrap();
    let (code, out, err) = run(&f, &["images", "check", "x.yml"]);
    assert_eq!(code, 0, "{out}{err}");
    let scopes = scopes.lock().unwrap();
    assert_eq!(scopes.len(), 1, "the token is fetched once and reused");
    assert!(
        scopes[0].contains("scope=repository%3Ateam%2Fapp%3Apull")
            && scopes[0].contains("service=fake-registry"),
        "{scopes:?}"
    );
}

#[test]
fn a_registry_that_never_answers_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(8) {
            held.push(s); // accept, never answer
        }
    });
    let f = Fixture::new();
    std::fs::write(f.path("x.yml"), format!("image: {host}/app:1@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n")).unwrap();
    let (code, out, _) = run(&f, &["images", "check", "x.yml", "--timeout", "1"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("timed out"), "{out}");
}

#[test]
fn pin_never_corrupts_files() {
    let Some(reg) = registry() else { return };
    let h = &reg.host;
    let (ok, _) = reg.push_image("app/ok", Some("1.0"), "ok", "linux/amd64");
    let f = Fixture::new();
    let d = f.path("w");
    std::fs::create_dir_all(&d).unwrap();
    // Named twice (folder and file): pinned once, not `@sha256:…@sha256:…`.
    std::fs::write(
        d.join("Dockerfile"),
        format!("ARG SLIM\nFROM {h}/app/ok:1.0\nFROM {h}/app/ok:1.0${{SLIM:+-slim}}\n"),
    )
    .unwrap();
    // A secret-bearing compose file keeps its mode; a Latin-1 file and a symlink are left alone.
    std::fs::write(
        d.join("compose.yml"),
        format!("services:\n  a:\n    image: {h}/app/ok:1.0\r\n"),
    )
    .unwrap();
    std::fs::set_permissions(
        d.join("compose.yml"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(
        d.join("latin1.yml"),
        [
            format!("# caf\u{e9}\nimage: {h}/app/ok:1.0\n").as_bytes(),
            b"# \xe9\n",
        ]
        .concat(),
    )
    .unwrap();
    std::os::unix::fs::symlink("compose.yml", d.join("link.yml")).unwrap();
    let (code, _, err) = run(
        &f,
        &["images", "pin", "w", "w/Dockerfile", "./w/Dockerfile"],
    );
    assert_eq!(
        code, 1,
        "the variable-suffixed and non-UTF-8 references are reported: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("Dockerfile")).unwrap(),
        format!("ARG SLIM\nFROM {h}/app/ok:1.0@{ok}\nFROM {h}/app/ok:1.0${{SLIM:+-slim}}\n")
    );
    assert!(err.contains("not written literally here"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("compose.yml")).unwrap(),
        format!("services:\n  a:\n    image: {h}/app/ok:1.0@{ok}\r\n"),
        "CRLF kept"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(d.join("compose.yml"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        err.contains("latin1.yml: not UTF-8; not rewritten"),
        "{err}"
    );
    assert!(
        std::fs::read(d.join("latin1.yml"))
            .unwrap()
            .ends_with(b"# \xe9\n")
    );
    assert!(
        std::fs::symlink_metadata(d.join("link.yml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn sha512_pins_and_signed_baseline_rules() {
    let Some(reg) = registry() else { return };
    let h = &reg.host;
    reg.push_image("app/ok", Some("1.0"), "ok", "linux/amd64");
    // A sha512 pin is checked with sha512.
    let client = reprove_oci::registry::RegistryClient::new(Default::default()).unwrap();
    let r: reprove_oci::ImageRef = format!("{h}/app/ok:1.0").parse().unwrap();
    let m = client.get_manifest(&r, "1.0").unwrap().unwrap();
    let d512 = reprove_digest::digest_bytes(reprove_digest::Algorithm::Sha512, &m.bytes);
    let f = Fixture::new();
    std::fs::write(f.path("x.yml"), format!("image: {h}/app/ok:1.0@{d512}\n")).unwrap();
    let (code, out, err) = run(&f, &["images", "check", "x.yml"]);
    assert_eq!(code, 0, "{out}{err}");
    // By digest alone, CNCF Distribution 2.8 only knows sha256 names: it answers 404, and the
    // verdict says so rather than blaming the bytes.
    std::fs::write(f.path("y.yml"), format!("image: {h}/app/ok@{d512}\n")).unwrap();
    let (_, out, _) = run(&f, &["images", "check", "y.yml"]);
    assert!(
        out.contains("digest-missing") && !out.contains("served bytes"),
        "{out}"
    );
    // --key demands a signed baseline: a plain manifest is refused, not trusted.
    std::fs::write(
        f.path("forged.json"),
        r#"{"predicateType":"https://reprove.dev/baseline/v0.1","predicate":{"images":[]}}"#,
    )
    .unwrap();
    assert_eq!(
        f.reprove_in(
            f.dir.path(),
            &["key", "generate", "--no-password", "--output", "k"]
        )
        .status
        .code(),
        Some(0)
    );
    let (code, _, err) = run(
        &f,
        &[
            "images",
            "check",
            "--baseline",
            "forged.json",
            "--key",
            "k.pub",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("is not signed"), "{err}");
}

/// A folder named on the command line is walked as git would see it: what `.gitignore`
/// excludes (`node_modules`, build output) is not scanned, CI files under `.github` are.
#[test]
fn folders_skip_what_gitignore_excludes() {
    let f = Fixture::new();
    let d = f.repo().join("proj");
    for (rel, text) in [
        (".gitignore", "node_modules/\n/target\n"),
        ("node_modules/pkg/Dockerfile", "FROM evil.example/node:1\n"),
        ("target/Dockerfile", "FROM evil.example/target:1\n"),
        (
            ".github/workflows/ci.yml",
            "jobs:\n  b:\n    container: ci.example/img:2\n",
        ),
    ] {
        let p = d.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let out = f.reprove(&["images", "check", "proj", "--format", "json"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let files: Vec<String> = verdicts(&text).into_iter().map(|(f, _, _)| f).collect();
    assert_eq!(files, ["proj/.github/workflows/ci.yml"], "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(1), "the CI image is unpinned");
}

/// Regression (review of issue 12): a tracked file matched by a committed `.gitignore`
/// (force-added) is still scanned when its folder is named: an ignore file cannot hide an
/// unpinned image from `images check DIR`.
#[test]
fn an_ignore_file_cannot_hide_a_tracked_file() {
    let f = Fixture::new();
    f.write(".gitignore", "deploy/Dockerfile\n");
    f.write("deploy/Dockerfile", "FROM hidden.example/app:1\n");
    f.git(&["add", "-f", ".gitignore", "deploy/Dockerfile"]);
    f.commit("hide it\n\nReviewed-by: R <r@example.com>");
    let out = f.reprove(&["images", "check", "deploy", "--format", "json"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let files: Vec<String> = verdicts(&text).into_iter().map(|(f, _, _)| f).collect();
    assert_eq!(files, ["deploy/Dockerfile"], "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(1));
}

/// Regression (review of issue 12): a tracked file under a folder whose name is not UTF-8
/// was skipped, by default and when its folder was named.
#[test]
fn tracked_paths_that_are_not_utf8_are_scanned() {
    use std::os::unix::ffi::OsStrExt as _;
    let f = Fixture::new();
    let dir = f.repo().join(std::ffi::OsStr::from_bytes(b"d\xff"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM odd.example/app:1\n").unwrap();
    f.git(&["add", "-A"]);
    f.commit("odd name\n\nReviewed-by: R <r@example.com>");
    for args in [
        &["images", "check", "--format", "json"][..],
        &["images", "check", ".", "--format", "json"][..],
    ] {
        let out = f.reprove(args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let files: Vec<String> = verdicts(&text).into_iter().map(|(f, _, _)| f).collect();
        assert_eq!(files.len(), 1, "{args:?}: {files:?} {}", stderr(&out));
        assert!(files[0].ends_with("/Dockerfile"), "{files:?}");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
}

/// Regression (review of issue 12): a tracked path whose folder was replaced by a link in the
/// working tree is not read (nor rewritten by `pin`), by default or when its folder is named.
#[test]
fn a_linked_folder_out_of_the_repository_is_not_read() {
    let f = Fixture::new();
    f.write("d/Dockerfile", "FROM inside.example/app:1\n");
    f.commit("dockerfile\n\nReviewed-by: R <r@example.com>");
    let outside = f.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("Dockerfile"), "FROM outside.example/app:9\n").unwrap();
    std::fs::remove_dir_all(f.repo().join("d")).unwrap();
    std::os::unix::fs::symlink(&outside, f.repo().join("d")).unwrap();
    for args in [
        &["images", "check", "--format", "json"][..],
        &["images", "check", ".", "--format", "json"][..],
    ] {
        let out = f.reprove(args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!text.contains("outside.example"), "{args:?}: {text}");
    }
}
