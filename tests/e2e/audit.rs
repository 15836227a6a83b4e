//! `reprove status`, `reprove diff` and `reprove report` over real releases: three tags, one
//! released, one that failed its change policy, one never released; real signatures; the
//! HTML report rendered by a real headless Chromium.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::release::{BUILD, Release};
use crate::support::{assert_schema, require_tool};

/// v1.0.0 released, v1.1.0 failed (an unreviewed change), v1.2.0 untracked.
fn three_releases() -> Option<(Release, String)> {
    let r = Release::new(BUILD, true)?;
    let dist = r.publish("v1.0.0", "dist");
    r.expect(
        &[
            "release",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--key",
            &r.p("k.key"),
        ],
        0,
    );
    r.f.write("src/greeting.txt", "hello, unreviewed world\n");
    r.f.write("Cargo.lock", "version = 3\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"ddc6f9cc94d67c0e21aaf7eda3a010fd3af78ebf6e096aa6e2e13c79749cce4f\"\n");
    r.f.commit("sneaky change");
    r.f.tag("v1.1.0");
    let dist2 = r.publish("v1.1.0", "dist2");
    r.expect(
        &[
            "release",
            "v1.1.0",
            "--artifacts",
            &dist2,
            "--key",
            &r.p("k.key"),
        ],
        1,
    );
    r.f.write("src/greeting.txt", "hello, later world\n");
    r.f.commit("later\n\nReviewed-by: R <r@example.com>");
    r.f.tag("v1.2.0");
    Some((r, dist))
}

fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"\b[0-9a-f]{64}\b", "[SHA256]"),
        (r"\b[0-9a-f]{40}\b", "[COMMIT]"),
        (r"\b[0-9a-f]{12}\b", "[SHORT]"),
        (r"key [A-Za-z0-9+/]{43}=", "key [KEY]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]"),
        (r"sha256:[0-9a-f]{16}…", "sha256:[SHA256]…"),
        (r"reprove \d+\.\d+\.\d+", "reprove [VERSION]"),
        (r"127\.0\.0\.1:\d+", "[REGISTRY]"),
        (r"with (docker|podman) \S+,", "with $1 [VERSION],"),
    ]
}

#[test]
fn status_accounts_for_every_release_and_re_verifies() {
    let Some((r, _)) = three_releases() else {
        return;
    };
    // v1.1.0 failed its change policy: it is shown `failed`, and status exits 1 (regression,
    // issue 11: it was listed `reproducible`, exit 0).
    let out = r.expect(&["status", "--key", &r.p("k.pub")], 1);
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!("status_with_key", crate::support::redact(&r.f, &out));
    });
    let v: Value =
        serde_json::from_str(&r.expect(&["status", "--key", &r.p("k.pub"), "--format", "json"], 1))
            .unwrap();
    let states: Vec<(&str, &str)> = v["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["tag"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("v1.2.0", "untracked"),
            ("v1.1.0", "failed"),
            ("v1.0.0", "verified")
        ]
    );
    assert_eq!(v["releases"][1]["findings"]["unauthorized-change"], 1);

    // Without a key nothing is called verified, and the output says why.
    let out = r.expect(&["status"], 1);
    assert!(out.contains("v1.0.0  attested"), "{out}");
    assert!(out.contains("signatures were not checked"), "{out}");

    // Evidence is re-verified, not trusted: a tampered file makes it invalid (exit 1)…
    let ev = r.evidence("v1.0.0");
    let soup = ev.join("soup.md");
    let mut text = std::fs::read_to_string(&soup).unwrap();
    text.push_str("\n| evil | 6.6.6 |\n");
    std::fs::write(&soup, text).unwrap();
    let (c, out, _) = r.run(&["status", "--key", &r.p("k.pub")]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("v1.0.0  invalid"), "{out}");
    assert!(out.contains("digest-mismatch: `soup.md`"), "{out}");
    // …and so does the wrong key.
    let (c, out, _) = r.run(&["status", "--key", &r.p("other.pub")]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("bad-signature"), "{out}");
}

#[test]
fn diff_names_changes_commits_and_authorization() {
    let Some((r, _)) = three_releases() else {
        return;
    };
    let (c, out, err) = r.run(&["diff", "v1.0.0", "v1.1.0"]);
    assert_eq!(c, 1, "an unauthorized change breaks the policy: {out}{err}");
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!("diff_tags", out.clone());
    });
    assert!(out.contains("modified  src/greeting.txt"), "{out}");
    assert!(out.contains("added     Cargo.lock"), "{out}");
    assert!(out.contains("added      cargo/serde - → 1.0.200"), "{out}");
    assert!(out.contains("UNAUTHORIZED sneaky change"), "{out}");

    // The signed baselines in the evidence give the same answer, verified.
    let b1 = r
        .evidence("v1.0.0")
        .join("baseline.sigstore.json")
        .display()
        .to_string();
    let b2 = r
        .evidence("v1.1.0")
        .join("baseline.sigstore.json")
        .display()
        .to_string();
    let (c, json, _) = r.run(&["diff", &b1, &b2, "--key", &r.p("k.pub"), "--format", "json"]);
    assert_eq!(c, 1);
    let d: Value = serde_json::from_str(&json).unwrap();
    let item = d["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "src/greeting.txt")
        .unwrap();
    assert_eq!(item["change"], "modified");
    assert_eq!(item["commits"].as_array().unwrap().len(), 1);
    assert_eq!(d["findings"][0]["code"], "unauthorized-change");
    assert!(
        !d["findings"][0]["message"].as_str().unwrap().contains('`'),
        "no Markdown in JSON"
    );
    // A bundle signed by another key is refused.
    let (c, _, err) = r.run(&["diff", &b1, &b2, "--key", &r.p("other.pub")]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("does not verify"), "{err}");

    // Releases that are not adjacent: the range is traced from the repository.
    let (c, md, _) = r.run(&["diff", "v1.0.0", "v1.2.0", "--format", "markdown"]);
    assert_eq!(c, 1);
    assert!(md.starts_with("# Changes from v1.0.0 to v1.2.0"), "{md}");
    assert!(md.contains("UNAUTHORIZED sneaky change"), "{md}");
    assert!(md.contains("authorized   later"), "{md}");
    assert!(!md.contains("trace-gap"), "{md}");
}

#[test]
fn report_is_a_self_contained_record_a_browser_renders() {
    let Some((r, dist)) = three_releases() else {
        return;
    };
    let out_dir = r.f.path("audit");
    let html = out_dir.join("v1.0.0.html");
    let o = r.expect(
        &[
            "report",
            "v1.0.0",
            "--key",
            &r.p("k.pub"),
            "--artifacts",
            &dist,
            "-o",
            &html.display().to_string(),
        ],
        0,
    );
    assert!(o.contains("verification: verified"), "{o}");
    let page = std::fs::read_to_string(&html).unwrap();
    for needle in [
        "id=\"clauses\"",
        "id=\"soup\"",
        "id=\"changes\"",
        "8.2.4",
        "4.2.5",
        "5.8.8",
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    // Self-contained: nothing to fetch, nothing to run.
    for banned in [
        "<script", "<link", "<img", "<iframe", "<object", " src=\"", " href=\"", "@import", "url(",
    ] {
        assert!(!page.contains(banned), "the report contains `{banned}`");
    }
    // Document control: id, revision, the trusted key by fingerprint, the one local clock
    // said to be one, a block to sign; no literal Markdown in HTML; no path of this machine;
    // digests in full.
    for needle in [
        "CMR-tiny-v1.0.0",
        "Revision",
        "key sha256:",
        "the only time in it not taken from the signed evidence",
        "Prepared by",
        "Approved by",
        "<code>reprove verify</code>",
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    assert!(!page.contains('`'), "literal backticks in the HTML");
    let tmp = r.f.path("x").parent().unwrap().display().to_string();
    assert!(!page.contains(&tmp), "a local path in the record: {tmp}");
    assert!(!page.contains('…'), "a truncated digest in the record");
    assert!(out_dir.join("SOUP-List-v1.0.0.md").is_file());
    let cm = std::fs::read_to_string(out_dir.join("Configuration-Management-v1.0.0.md")).unwrap();
    assert!(
        cm.contains("reprove verify v1.0.0 --evidence evidence/v1.0.0"),
        "{cm}"
    );
    // The recipe exactly as reprove.toml holds it, in a block to copy.
    let recipe = Command::new("git")
        .args([
            "-C",
            &r.f.repo().display().to_string(),
            "show",
            "v1.0.0:reprove.toml",
        ])
        .output()
        .unwrap();
    let recipe = String::from_utf8(recipe.stdout).unwrap();
    assert!(
        cm.contains(&format!("```toml\n{}\n```", recipe.trim_end())),
        "{cm}"
    );
    assert!(cm.contains("Document ID: CMR-tiny-v1.0.0-CM"), "{cm}");

    // Another release's record goes in the same folder without touching this one's; --force
    // replaces this release's own documents, never another's, nor a file reprove did not
    // write.
    let html2 = out_dir.join("v1.2.0.html");
    let soup1 = std::fs::read(out_dir.join("SOUP-List-v1.0.0.md")).unwrap();
    let key = r.p("k.pub");
    let report = |tag: &str, out: &Path, extra: &[&str]| {
        let out = out.display().to_string();
        let mut args = vec!["report", tag, "--key", &key, "-o", &out];
        args.extend(extra);
        r.run(&args)
    };
    report("v1.1.0", &out_dir.join("v1.1.0.html"), &[]);
    assert!(out_dir.join("SOUP-List-v1.1.0.md").is_file());
    assert_eq!(
        std::fs::read(out_dir.join("SOUP-List-v1.0.0.md")).unwrap(),
        soup1
    );
    let (c, _, err) = report("v1.1.0", &html, &["--force"]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("not replaced, even with --force"), "{err}");
    std::fs::write(&html2, "my own notes\n").unwrap();
    let (c, _, err) = report("v1.0.0", &html2, &["--force"]);
    assert_eq!(c, 2, "{err}");
    assert_eq!(std::fs::read_to_string(&html2).unwrap(), "my own notes\n");
    let (c, _, err) = report("v1.0.0", &html, &["--artifacts", &dist, "--force"]);
    assert_eq!(c, 0, "{err}");
    // --check-images asks the (loopback) registry now, and the record uses it: §8.1.3 says
    // the pins were re-checked, the images section says they hold.
    let pins = out_dir.join("pins/v1.0.0.html");
    let (c, _, err) = r.run(&[
        "report",
        "v1.0.0",
        "--key",
        &r.p("k.pub"),
        "--artifacts",
        &dist,
        "--check-images",
        "-o",
        &pins.display().to_string(),
    ]);
    assert_eq!(c, 0, "{err}");
    let page = std::fs::read_to_string(&pins).unwrap();
    assert!(
        page.contains("Pins against their registries: pass"),
        "{page}"
    );
    // Without a key nothing is called verified: exit 2, and the record says so.
    let unkeyed = r.f.path("unkeyed/v1.0.0.html");
    let (c, o, _) = r.run(&["report", "v1.0.0", "-o", &unkeyed.display().to_string()]);
    assert_eq!(c, 2, "{o}");
    assert!(o.contains("signatures not checked"), "{o}");
    let page = std::fs::read_to_string(&unkeyed).unwrap();
    assert!(page.contains("Signatures were NOT checked"));
    assert!(page.contains("s-not-checked"));
    // Never overwritten without --force.
    let (c, _, err) = r.run(&[
        "report",
        "v1.0.0",
        "--key",
        &r.p("k.pub"),
        "-o",
        &html.display().to_string(),
    ]);
    assert_eq!(c, 2);
    assert!(err.contains("already exists"), "{err}");

    // The Markdown variant, as a snapshot; the failed release shows its gaps.
    let md = r.f.path("md/v1.1.0.md");
    r.expect(
        &[
            "report",
            "v1.1.0",
            "--key",
            &r.p("k.pub"),
            "--format",
            "markdown",
            "-o",
            &md.display().to_string(),
        ],
        1,
    );
    let text = std::fs::read_to_string(&md).unwrap();
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!("report_failed_release_md", crate::support::redact(&r.f, &text));
    });
    let soup_list = std::fs::read_to_string(r.f.path("md/SOUP-List-v1.1.0.md")).unwrap();
    assert!(
        soup_list.contains("| serde | 1.0.200 | cargo |"),
        "{soup_list}"
    );

    // A real browser renders it: the clause and SOUP tables are in its DOM.
    if !require_tool("chromium") {
        return;
    }
    let profile = tempfile::tempdir().unwrap();
    let chromium = |extra: &[&str]| {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", html.display()))
            .output()
            .unwrap()
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    for table in ["clauses", "soup", "changes", "artifacts", "checks"] {
        assert!(
            dom.contains(&format!("<table id=\"{table}\">")),
            "table {table} not in the DOM"
        );
    }
    assert!(dom.matches("<tr>").count() > 20, "the tables have rows");
    // Kept for a person to look at, in the folder cargo gives integration tests inside the
    // target directory, wherever CARGO_TARGET_DIR puts it (never `target/` beside the sources,
    // which need not exist).
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let out = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,2000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a screenshot with content"
    );
}

/// On a terminal the status words are coloured; with `NO_COLOR`, or piped, never an escape.
#[test]
fn status_words_are_coloured_only_on_a_terminal() {
    if !require_tool("script") {
        return;
    }
    let Some((r, _)) = three_releases() else {
        return;
    };
    let on_tty_with = |args: &str, no_color: bool| {
        let cmd = format!(
            "{} {args} --key {}",
            env!("CARGO_BIN_EXE_reprove"),
            r.p("k.pub")
        );
        let mut sh = Command::new("script");
        sh.current_dir(r.f.repo()).args(["-qec", &cmd, "/dev/null"]);
        r.f.env(&mut sh);
        sh.env("TERM", "xterm");
        if no_color {
            sh.env("NO_COLOR", "1");
        }
        String::from_utf8_lossy(&sh.output().unwrap().stdout).into_owned()
    };
    let on_tty = |no_color: bool| on_tty_with("verify v1.0.0 --no-artifacts", no_color);
    let coloured = on_tty(false);
    assert!(
        coloured.contains("\u{1b}[32mpass   \u{1b}[0m"),
        "{coloured:?}"
    );
    assert!(
        coloured.contains("\u{1b}[33mskipped\u{1b}[0m"),
        "{coloured:?}"
    );
    // `status` too: a verified release green, a failed one red.
    let status = on_tty_with("status", false);
    assert!(status.contains("\u{1b}[32mverified"), "{status:?}");
    assert!(status.contains("\u{1b}[1;31mfailed"), "{status:?}");
    let plain = on_tty(true);
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    let (_, piped, _) = r.run(&["verify", "v1.0.0", "--no-artifacts", "--key", &r.p("k.pub")]);
    assert!(
        !piped.contains('\u{1b}') && piped.contains("pass "),
        "{piped}"
    );
}

/// Every `--format json` document carries `schemaVersion` and matches its schema in
/// `schemas/`, in its passing and its failing shapes.
#[test]
fn every_json_output_matches_its_schema() {
    let Some((r, dist)) = three_releases() else {
        return;
    };
    let key = r.p("k.pub");
    let json = |args: &[&str], schema: &str| {
        let (c, out, err) = r.run(args);
        assert!(c <= 2, "{args:?}: {err}");
        let v: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}{err}"));
        assert_eq!(v["schemaVersion"], "1.0", "{args:?}");
        assert_schema(schema, &out);
        v
    };
    json(
        &[
            "verify",
            "v1.0.0",
            "--key",
            &key,
            "--artifacts",
            &dist,
            "--format",
            "json",
        ],
        "verify",
    );
    let failed = json(
        &[
            "verify",
            "v1.1.0",
            "--key",
            &key,
            "--no-artifacts",
            "--format",
            "json",
        ],
        "verify",
    );
    assert_eq!(failed["verdict"], "failed");
    json(
        &[
            "verify",
            "v1.0.0",
            "--key",
            &r.p("other.pub"),
            "--no-artifacts",
            "--format",
            "json",
        ],
        "verify",
    );
    json(&["status", "--key", &key, "--format", "json"], "status");
    // A published file that differs: the finding names it, with both digests.
    let tampered = r.f.path("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    for e in std::fs::read_dir(&dist).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tampered.join(e.file_name())).unwrap();
    }
    std::fs::write(tampered.join("greeting.txt"), "not what was released\n").unwrap();
    std::fs::write(tampered.join("extra.bin"), "never released\n").unwrap();
    let bad = json(
        &[
            "verify",
            "v1.0.0",
            "--key",
            &key,
            "--artifacts",
            &tampered.display().to_string(),
            "--format",
            "json",
        ],
        "verify",
    );
    // The first finding of a code, whichever check made it.
    let finding_of = |code: &str| {
        bad["checks"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["findings"].as_array().cloned().unwrap_or_default())
            .find(|f| f["code"] == code)
            .unwrap_or_else(|| panic!("no `{code}` in {bad}"))
    };
    let finding = finding_of("digest-mismatch");
    assert_eq!(finding["path"], "greeting.txt");
    assert!(finding["expected"].as_str().unwrap().starts_with("sha256:"));
    assert_ne!(finding["expected"], finding["actual"]);
    // A file nobody attested: named by its path, so a dashboard can list it.
    let extra = finding_of("unattested-artifact");
    assert_eq!(extra["path"], "extra.bin");
    json(&["diff", "v1.0.0", "v1.1.0", "--format", "json"], "diff");
    json(&["soup", "v1.1.0", "--format", "json"], "soup");
    json(&["images", "check", "--format", "json"], "images-check");
    let ev = r.f.repo().join("evidence/v1.0.0/provenance.sigstore.json");
    let ev = ev.display().to_string();
    let ok = json(
        &[
            "verify-bundle",
            "--bundle",
            &ev,
            "--key",
            &key,
            "--format",
            "json",
            &format!("{dist}/greeting.txt"),
        ],
        "verify-bundle",
    );
    assert_eq!(ok["verified"], true);
    let rejected = json(
        &[
            "verify-bundle",
            "--bundle",
            &ev,
            "--key",
            &r.p("other.pub"),
            "--format",
            "json",
            &format!("{dist}/greeting.txt"),
        ],
        "verify-bundle",
    );
    assert_eq!(rejected["verified"], false);
    json(
        &[
            "rebuild",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--format",
            "json",
        ],
        "rebuild-report",
    );
    // Without published files: nothing compared, verdict `built`.
    let built = json(&["rebuild", "v1.0.0", "--format", "json"], "rebuild-report");
    assert_eq!(built["verdict"], "built");
}
