use std::os::unix::fs::PermissionsExt as _;

use crate::support::{Fixture, require_tool, stderr, vectors};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn with_env(f: &Fixture, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reprove"));
    cmd.current_dir(f.dir.path()).args(args);
    f.env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::null());
    cmd.output().unwrap()
}

#[test]
fn generate_both_algorithms_with_safe_modes() {
    let f = Fixture::new();
    for (alg, prefix) in [("p256", "rel"), ("ed25519", "ed")] {
        let out = with_env(
            &f,
            &[
                "key",
                "generate",
                "--no-password",
                "--algorithm",
                alg,
                "--output",
                prefix,
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("UNENCRYPTED"),
            "says the key is not encrypted"
        );
        let key = f.path(&format!("{prefix}.key"));
        let public = f.path(&format!("{prefix}.pub"));
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&public), 0o644);
        let key_text = std::fs::read_to_string(&key).unwrap();
        assert!(key_text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let pub_text = std::fs::read_to_string(&public).unwrap();
        assert!(pub_text.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        // `key public` derives the same public key from the private one.
        let out = with_env(&f, &["key", "public", &format!("{prefix}.key")], &[]);
        assert_eq!(String::from_utf8(out.stdout.clone()).unwrap(), pub_text);
        // The private key never reaches the terminal.
        let secret_line = key_text.lines().nth(1).unwrap();
        assert!(!stderr(&out).contains(secret_line));
    }
    // Never overwritten without --force.
    let before = std::fs::read(f.path("rel.key")).unwrap();
    let out = with_env(
        &f,
        &["key", "generate", "--no-password", "--output", "rel"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"));
    assert_eq!(std::fs::read(f.path("rel.key")).unwrap(), before);
    let out = with_env(
        &f,
        &[
            "key",
            "generate",
            "--no-password",
            "--output",
            "rel",
            "--force",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_ne!(std::fs::read(f.path("rel.key")).unwrap(), before);
}

#[test]
fn encrypted_keys_in_cosign_format() {
    let f = Fixture::new();
    std::fs::write(
        f.path("s.json"),
        include_bytes!("../fixtures/statement.json"),
    )
    .unwrap();
    let out = with_env(
        &f,
        &["key", "generate", "--output", "enc"],
        &[("REPROVE_PASSWORD", "correct horse")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("correct horse"),
        "the password is never printed"
    );
    let text = std::fs::read_to_string(f.path("enc.key")).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine as _;
    let json: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["kdf"]["name"], "scrypt");
    assert_eq!(json["kdf"]["params"]["N"], 32768);
    assert_eq!(json["cipher"]["name"], "nacl/secretbox");

    // Either variable unlocks it.
    for var in ["REPROVE_PASSWORD", "COSIGN_PASSWORD"] {
        let out = with_env(
            &f,
            &[
                "sign",
                "s.json",
                "--key",
                "enc.key",
                "-o",
                &format!("{var}.bundle"),
            ],
            &[(var, "correct horse")],
        );
        assert_eq!(out.status.code(), Some(0), "{var}: {}", stderr(&out));
    }
    // The legacy PEM label reads too.
    std::fs::write(
        f.path("legacy.key"),
        text.replace(
            "ENCRYPTED SIGSTORE PRIVATE KEY",
            "ENCRYPTED COSIGN PRIVATE KEY",
        ),
    )
    .unwrap();
    let out = with_env(
        &f,
        &["key", "public", "legacy.key"],
        &[("COSIGN_PASSWORD", "correct horse")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(f.path("enc.pub")).unwrap()
    );

    // Wrong password: exit 2, nothing written.
    let out = with_env(
        &f,
        &["sign", "s.json", "--key", "enc.key", "-o", "wrong.bundle"],
        &[("REPROVE_PASSWORD", "wrong")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
    assert!(!f.path("wrong.bundle").exists());
    // No password and no terminal: exit 2 with what to do.
    let out = with_env(
        &f,
        &["sign", "s.json", "--key", "enc.key", "-o", "none.bundle"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("REPROVE_PASSWORD"),
        "{}",
        stderr(&out)
    );
    assert!(!f.path("none.bundle").exists());
    // An empty password variable counts as unset, and with no terminal to ask on, no key is
    // written unencrypted unless --no-password says so.
    let out = with_env(
        &f,
        &["key", "generate", "--output", "plain"],
        &[("REPROVE_PASSWORD", "")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--no-password"), "{}", stderr(&out));
    assert!(!f.path("plain.key").exists() && !f.path("plain.pub").exists());
    let out = with_env(
        &f,
        &["key", "generate", "--no-password", "--output", "plain"],
        &[("REPROVE_PASSWORD", "")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("UNENCRYPTED"));
}

/// On a terminal, `key generate` asks for the password twice (no echo) and encrypts the key
/// with it; two different answers write nothing.
#[test]
fn key_generate_asks_for_a_password_on_a_terminal() {
    if !require_tool("script") {
        return;
    }
    let f = Fixture::new();
    let bin = env!("CARGO_BIN_EXE_reprove");
    let run = |answers: [&str; 2], prefix: &str| {
        let mut sh = std::process::Command::new("sh");
        sh.current_dir(f.dir.path()).env_remove("REPROVE_PASSWORD").env_remove("COSIGN_PASSWORD").args([
            "-c",
            &format!(
                "(sleep 1; printf '%s\\n' '{}'; sleep 1; printf '%s\\n' '{}') | script -qec '{bin} key generate -o {prefix}' /dev/null",
                answers[0], answers[1]
            ),
        ]);
        sh.output().unwrap()
    };
    let out = run(["tty-pw-1", "tty-pw-1"], "t1");
    let text = std::fs::read_to_string(f.path("t1.key")).unwrap_or_default();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{}{text}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The password opens it.
    let out = with_env(
        &f,
        &["key", "public", "t1.key"],
        &[("REPROVE_PASSWORD", "tty-pw-1")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(["tty-pw-1", "tty-pw-2"], "t2");
    assert!(String::from_utf8_lossy(&out.stdout).contains("the two passwords differ"));
    assert!(!f.path("t2.key").exists());
}

#[test]
fn keys_from_other_tools_are_read() {
    let f = Fixture::new();
    std::fs::write(
        f.path("s.json"),
        include_bytes!("../fixtures/statement.json"),
    )
    .unwrap();
    // SEC1 `EC PRIVATE KEY` from openssl.
    if require_tool("openssl") {
        let st = std::process::Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(f.path("sec1.key"))
            .status()
            .unwrap();
        assert!(st.success());
        assert!(
            std::fs::read_to_string(f.path("sec1.key"))
                .unwrap()
                .contains("BEGIN EC PRIVATE KEY")
        );
        let out = with_env(
            &f,
            &["sign", "s.json", "--key", "sec1.key", "-o", "sec1.bundle"],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let out = with_env(&f, &["key", "public", "sec1.key"], &[]);
        std::fs::write(f.path("sec1.pub"), &out.stdout).unwrap();
        let out = with_env(
            &f,
            &[
                "verify-bundle",
                "--bundle",
                "sec1.bundle",
                "--key",
                "sec1.pub",
                "sha256:147e88bea34af06768ff2bcf2552ae0b6262a66e6d979711fb2409e1b003e662",
            ],
            &[],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
    }
    // securesystemslib's PKCS#8 keys, made now by securesystemslib.
    let Some(vectors) = vectors() else { return };
    let v = vectors.path().join("sslib");
    for alg in ["ecdsa-p256", "ed25519"] {
        let key = v.join(format!("{alg}.key.pem"));
        let out = with_env(&f, &["key", "public", key.to_str().unwrap()], &[]);
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            std::fs::read_to_string(v.join(format!("{alg}.pub.pem"))).unwrap()
        );
        // reprove's DSSE keyid is securesystemslib's own, so in-toto tooling finds the key.
        let out = with_env(
            &f,
            &[
                "sign",
                "s.json",
                "--key",
                key.to_str().unwrap(),
                "-o",
                &format!("{alg}.dsse.json"),
                "--dsse",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let env: serde_json::Value =
            serde_json::from_slice(&std::fs::read(f.path(&format!("{alg}.dsse.json"))).unwrap())
                .unwrap();
        assert_eq!(
            env["signatures"][0]["keyid"].as_str().unwrap(),
            std::fs::read_to_string(v.join(format!("{alg}.keyid")))
                .unwrap()
                .trim()
        );
    }
    // A public key where a private one is needed, and the reverse.
    let out = with_env(
        &f,
        &[
            "sign",
            "s.json",
            "--key",
            v.join("ed25519.pub.pem").to_str().unwrap(),
            "-o",
            "x",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("this is a public key"),
        "{}",
        stderr(&out)
    );
}

/// With no password in the environment, an encrypted key asks on the terminal (a real pty,
/// from util-linux `script`) and the typed password is not echoed.
#[test]
fn password_prompt_on_a_terminal() {
    if !require_tool("script") {
        return;
    }
    let f = Fixture::new();
    let out = with_env(
        &f,
        &["key", "generate", "--output", "enc"],
        &[("REPROVE_PASSWORD", "s3cret-pw")],
    );
    assert_eq!(out.status.code(), Some(0));
    for (typed, code) in [("s3cret-pw", 0), ("bad-guess", 2)] {
        let cmd = format!("{} key public enc.key", env!("CARGO_BIN_EXE_reprove"));
        let mut sh = std::process::Command::new("sh");
        sh.current_dir(f.dir.path()).args([
            "-c",
            &format!("(sleep 1; printf '%s\\n' '{typed}') | script -qec '{cmd}' /dev/null"),
        ]);
        f.env(&mut sh);
        let out = sh.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(code), "{text}");
        assert!(text.contains("password for the private key:"), "{text}");
        assert!(!text.contains(typed), "the password is not echoed: {text}");
        if code == 0 {
            assert!(text.contains("-----BEGIN PUBLIC KEY-----"));
        }
    }
}
