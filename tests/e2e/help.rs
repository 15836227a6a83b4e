//! The command line's surface: every command's `--help`, snapshotted, so a restructuring of
//! the clap tree that changes a flag, a default or a constraint shows up as a diff.

use crate::support::{Fixture, stderr};

const COMMANDS: &[&[&str]] = &[
    &[],
    &["baseline"],
    &["soup"],
    &["init"],
    &["key"],
    &["key", "generate"],
    &["key", "public"],
    &["rebuild"],
    &["attest"],
    &["release"],
    &["verify"],
    &["status"],
    &["diff"],
    &["report"],
    &["images"],
    &["images", "check"],
    &["images", "pin"],
    &["sign"],
    &["verify-bundle"],
    &["completions"],
    &["man"],
];

#[test]
fn every_command_help() {
    let f = Fixture::new();
    let mut all = String::new();
    for cmd in COMMANDS {
        let mut args: Vec<&str> = cmd.to_vec();
        args.push("--help");
        let out = f.reprove(&args);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}: {}", stderr(&out));
        all.push_str(&format!("$ reprove {}\n", args.join(" ")));
        all.push_str(&String::from_utf8(out.stdout).unwrap());
        all.push('\n');
    }
    insta::assert_snapshot!(all);
}

/// The constraints between flags hold after the restructuring (they live in clap attributes,
/// which a help text does not fully show).
#[test]
fn flag_constraints() {
    let f = Fixture::new();
    for (args, needle) in [
        (
            &["verify", "v1.0.0", "--certificate-identity", "a"][..],
            "--certificate-oidc-issuer",
        ),
        (
            &["status", "--certificate-oidc-issuer", "https://x"][..],
            "--certificate-identity",
        ),
        (
            &["report", "v1.0.0", "--certificate-identity", "a"][..],
            "--certificate-oidc-issuer",
        ),
        (
            &["verify", "v1.0.0", "--artifacts", "d", "--no-artifacts"][..],
            "cannot be used with",
        ),
        (
            &["verify", "v1.0.0", "--artifact", "f", "--no-artifacts"][..],
            "cannot be used with",
        ),
        (&["baseline", "v1.0.0", "--sign"][..], "--key"),
        (&["baseline", "v1.0.0", "--key", "k"][..], "--sign"),
        (&["images", "check", "--key", "k"][..], "--baseline"),
        (
            &["images", "check", "p", "--baseline", "b"][..],
            "cannot be used with",
        ),
        (&["verify-bundle", "--bundle", "b", "f"][..], "--key"),
        (
            &[
                "verify-bundle",
                "--bundle",
                "b",
                "--key",
                "k",
                "--certificate-identity",
                "a",
                "f",
            ][..],
            "cannot be used with",
        ),
    ] {
        let out = f.reprove(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// Completions for every shell clap knows, and man pages a real `man` renders, all from the
/// same clap tree.
#[test]
fn completions_and_man_pages_come_from_the_clap_tree() {
    let f = Fixture::new();
    for (shell, needle) in [
        ("bash", "complete -F _reprove"),
        ("zsh", "#compdef reprove"),
        ("fish", "complete -c reprove"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[reprove]"),
    ] {
        let out = f.reprove(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(needle), "{shell}: {text}");
        assert!(
            text.contains("verify-bundle"),
            "{shell}: every command is completed"
        );
    }
    let out = f.reprove(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));

    let out = f.reprove(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains(".TH reprove 1")
    );
    let dir = f.path("man");
    let out = f.reprove(&["man", "--output", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for page in [
        "reprove.1",
        "reprove-verify.1",
        "reprove-images-check.1",
        "reprove-key-generate.1",
    ] {
        assert!(dir.join(page).is_file(), "{page}");
    }
    // A page says what its options do, and never overwrites without --force.
    let verify = std::fs::read_to_string(dir.join("reprove-verify.1")).unwrap();
    assert!(verify.contains("insecure\\-registry"), "{verify}");
    let out = f.reprove(&["man", "--output", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// `--version` names the commit it was built from, and whether that was a tagged release.
#[test]
fn version_names_the_commit() {
    let f = Fixture::new();
    let out = f.reprove(&["--version"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let commit = text
        .split("(commit ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_default();
    assert!(
        commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{text}"
    );
    assert!(
        text.contains(", tag ") || text.contains("not a tagged release"),
        "{text}"
    );
}

/// `-q` silences notes (never warnings or errors); `-v` and `-q` exclude each other.
#[test]
fn quiet_and_verbose() {
    let f = Fixture::new();
    let dir = f.path("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("k").display().to_string();
    let out = f.reprove(&["-q", "key", "generate", "--no-password", "-o", &prefix]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The unencrypted key is a warning: said even with -q.
    assert!(stderr(&out).contains("UNENCRYPTED"), "{}", stderr(&out));
    let man = f.path("man");
    let out = f.reprove(&["man", "-o", &man.display().to_string(), "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let out = f.reprove(&["-q", "-v", "man"]);
    assert_eq!(out.status.code(), Some(2));
}
