use crate::baseline::rich;
use crate::support::{Fixture, redact, stderr};

#[test]
fn writes_a_detected_config_and_never_overwrites() {
    let f = rich();
    std::fs::remove_file(f.repo().join("reprove.toml")).unwrap();
    f.commit("drop config\n\nReviewed-by: R <r@example.com>");
    let out = f.reprove(&["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(f.repo().join("reprove.toml")).unwrap();
    insta::assert_snapshot!(text);
    // The written file is itself valid configuration for reprove.
    f.commit("add config\n\nReviewed-by: R <r@example.com>");
    f.tag("v2.0.0");
    f.ok(&["baseline", "v2.0.0"], 0);
    // Refuses to overwrite.
    std::fs::write(f.repo().join("reprove.toml"), "# mine\n").unwrap();
    let out = f.reprove(&["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(redact(&f, &stderr(&out)).contains("`[TMP]/repo/reprove.toml` already exists"));
    assert_eq!(
        std::fs::read_to_string(f.repo().join("reprove.toml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn init_in_an_empty_repository() {
    let f = Fixture::new();
    let out = f.reprove(&["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(f.repo().join("reprove.toml")).unwrap();
    assert!(text.contains("# No lockfiles found."));
    assert!(text.contains("name = \"repo\""));
}
