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

/// Issue 13: on a Cargo workspace with crates.io dependencies, `init` names the project from
/// `Cargo.toml` and writes a recipe — build, artifacts, fetch phase — that is valid as soon as
/// it is uncommented and given a pinned image.
#[test]
fn init_writes_a_recipe_that_fits_a_cargo_project() {
    let f = Fixture::new();
    let ws = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/cargo-workspace");
    crate::baseline::copy_dir(&ws, &f.repo());
    f.commit("app\n\nReviewed-by: R <r@example.com>");
    let out = f.reprove(&["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(f.repo().join("reprove.toml")).unwrap();
    assert!(text.contains("name = \"app\""), "{text}");
    assert!(
        text.contains(
            "# command = \"cargo build --release --locked --offline\"  # a Cargo project"
        ),
        "{text}"
    );
    assert!(
        text.contains("# artifacts = [\"target/release/app\"]"),
        "{text}"
    );
    assert!(
        text.contains("# command = \"cargo fetch --locked\""),
        "{text}"
    );
    assert!(
        text.contains("# store = \"/tmp/.cargo/registry\""),
        "{text}"
    );
    // Uncommented, with a pinned image, it is a recipe reprove takes.
    let image = format!("registry.example.com/rust@sha256:{}", "a".repeat(64));
    let mut config = String::new();
    let mut in_build = false;
    for line in text.lines() {
        if line.starts_with("# [build") {
            in_build = true;
        } else if line.is_empty() {
            in_build = false;
        }
        if !in_build {
            config.push_str(line);
        } else if line.starts_with("# image = ") {
            config.push_str(&format!("image = \"{image}\""));
        } else if let Some(rest) = line.strip_prefix("# ")
            && !line.starts_with("# The ")
            && !line.starts_with("# lockfiles")
        {
            config.push_str(rest);
        }
        config.push('\n');
    }
    std::fs::write(f.repo().join("reprove.toml"), &config).unwrap();
    f.commit("config\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    let out = f.reprove(&["baseline", "v1.0.0", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{config}\n{}", stderr(&out));
    let baseline: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        baseline["predicate"]["build"]["fetch"]["command"], "cargo fetch --locked",
        "{config}"
    );
}
