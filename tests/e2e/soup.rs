use serde_json::Value;

use crate::baseline::rich;
use crate::support::redact;

#[test]
fn markdown_register_with_overrides() {
    let f = rich();
    let md = f.ok(&["soup", "v1.1.0"], 0);
    insta::assert_snapshot!(redact(&f, &md));
}

#[test]
fn json_register_fields() {
    let f = rich();
    let v = f.json(&["soup", "v1.1.0", "--format", "json"], 0);
    let items = v["items"].as_array().unwrap();
    let find = |name: &str| {
        items
            .iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    // Cargo: registry, checksum, direct vs transitive, overrides applied.
    let serde = find("serde");
    assert_eq!(serde["supplier"], "David Tolnay");
    assert_eq!(serde["supplierOrigin"], "overrides");
    assert_eq!(serde["safetyClass"], "A");
    assert_eq!(serde["scope"], "direct");
    assert_eq!(serde["purl"], "pkg:cargo/serde@1.0.215");
    assert_eq!(find("serde_derive")["scope"], "transitive");
    // npm: dev flag and licence.
    assert_eq!(find("is-number")["scope"], "dev");
    assert_eq!(find("left-pad")["license"], "WTFPL");
    // pip: pinned + hashed, via comments, overrides without supplier keep the derived one.
    let requests = find("requests");
    assert_eq!(requests["scope"], "direct");
    assert_eq!(requests["supplier"], "pypi.org");
    assert_eq!(requests["endOfSupport"], "2027-12-31");
    assert_eq!(find("urllib3")["scope"], "transitive");
    // Go: go.mod decides direct/indirect.
    assert_eq!(find("github.com/google/uuid")["scope"], "direct");
    assert_eq!(find("golang.org/x/sys")["scope"], "transitive");
    // Images from Dockerfile (ARG substituted), compose, workflow, reprove.toml.
    let images: Vec<&str> = items
        .iter()
        .filter(|i| i["ecosystem"] == "oci")
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        images,
        [
            "127.0.0.1:5000/build/gcc",
            "docker.io/library/alpine",
            "docker.io/library/debian",
            "docker.io/library/node",
            "docker.io/library/postgres",
            "docker.io/library/redis",
            "gcr.io/distroless/static",
        ]
    );
    let codes: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["code"].as_str().unwrap(),
                f["item"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        codes.contains(&"unpinned-version pytest@>=8".to_owned()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"unpinned-image debian:bookworm-slim".to_owned()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"unpinned-image postgres:16".to_owned()),
        "{codes:?}"
    );
}

#[test]
fn soup_of_head_reads_committed_files_only() {
    let f = rich();
    f.write("Cargo.lock", "garbage that is not committed");
    let v = f.json(&["soup", "--format", "json"], 0);
    assert_eq!(v["commit"], f.git(&["rev-parse", "HEAD"]));
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "serde")
    );
}

#[test]
fn csv_register() {
    let f = rich();
    let csv = f.ok(&["soup", "v1.1.0", "--format", "csv"], 0);
    let mut lines = csv.split("\r\n");
    assert_eq!(
        lines.next().unwrap(),
        "name,version,ecosystem,supplier,supplier_origin,scope,license,checksum,purl,source,declared_in,purpose,safety_class,end_of_support,last_anomaly_review"
    );
    assert!(csv.contains("serde,1.0.215,cargo,David Tolnay,overrides,direct,,sha256:6513c1ad0b11a9376da888e3e0baa0077f1aed55c17f50e7b2397136129fb88f,pkg:cargo/serde@1.0.215,https://crates.io,Cargo.lock,reading configuration files,A,,2026-10-01"));
}

/// Runs `script` with the suite's Python on `doc` (written to a file), failing with its output.
fn python_accepts(f: &crate::support::Fixture, module: &str, script: &str, doc: &str, what: &str) {
    let Some(python) = crate::support::python_with(module) else {
        return;
    };
    let path = f.path("document.json");
    std::fs::write(&path, doc).unwrap();
    let out = std::process::Command::new(&python)
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what} rejected the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const CYCLONEDX_CHECK: &str = "import sys\nfrom cyclonedx.schema import SchemaVersion\nfrom cyclonedx.validation.json import JsonStrictValidator\nv = {'1.5': SchemaVersion.V1_5, '1.6': SchemaVersion.V1_6}[sys.argv[2]]\nerr = JsonStrictValidator(v).validate_str(open(sys.argv[1]).read())\nprint(err if err else 'valid')\nsys.exit(1 if err else 0)\n";

#[test]
fn cyclonedx_validates_against_the_official_schema() {
    let f = rich();
    for (format, version) in [("cyclonedx", "1.6"), ("cyclonedx-1.5", "1.5")] {
        let bom = f.ok(&["soup", "v1.1.0", "--format", format], 0);
        let v: Value = serde_json::from_str(&bom).unwrap();
        assert_eq!(v["specVersion"], version);
        assert_eq!(v["metadata"]["component"]["name"], "infusion-ctl");
        assert_eq!(
            v["metadata"]["component"]["supplier"]["name"],
            "Acme Medical GmbH"
        );
        // Independent validation: cyclonedx-python-lib's strict validator with the official
        // CycloneDX schema of that version.
        let script = CYCLONEDX_CHECK.replace("sys.argv[2]", &format!("'{version}'"));
        python_accepts(
            &f,
            "cyclonedx.validation.json",
            &script,
            &bom,
            "CycloneDX's schema",
        );
    }
}

/// SPDX's own tool (spdx-tools, from the SPDX project) parses the document and finds nothing
/// wrong with it; the licences reprove could not express in SPDX stay readable.
#[test]
fn spdx_validates_with_the_spdx_tools() {
    let f = rich();
    let doc = f.ok(&["soup", "v1.1.0", "--format", "spdx"], 0);
    let v: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["spdxVersion"], "SPDX-2.3");
    assert_eq!(v["packages"][0]["name"], "infusion-ctl");
    assert_eq!(v["packages"][0]["versionInfo"], "v1.1.0");
    assert_eq!(
        v["packages"][0]["supplier"],
        "Organization: Acme Medical GmbH"
    );
    // The only date is the commit's: the same tag gives the same bytes.
    assert_eq!(doc, f.ok(&["soup", "v1.1.0", "--format", "spdx"], 0));
    let serde = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde")
        .unwrap();
    assert_eq!(serde["supplier"], "Organization: David Tolnay");
    assert_eq!(serde["checksums"][0]["algorithm"], "SHA256");
    assert_eq!(
        serde["externalRefs"][0]["referenceLocator"],
        "pkg:cargo/serde@1.0.215"
    );
    let script = "import sys\nfrom spdx_tools.spdx.parser.parse_anything import parse_file\nfrom spdx_tools.spdx.validation.document_validator import validate_full_spdx_document\ndoc = parse_file(sys.argv[1])\nerrs = validate_full_spdx_document(doc)\nfor e in errs: print(e.validation_message, e.context)\nprint(len(doc.packages), 'packages', len(doc.relationships), 'relationships')\nsys.exit(1 if errs else 0)\n";
    python_accepts(
        &f,
        "spdx_tools.spdx.validation.document_validator",
        script,
        &doc,
        "spdx-tools",
    );
}

#[test]
fn a_broken_overrides_file_stops_the_register() {
    let f = rich();
    f.write(
        "soup.toml",
        "[[item]]\nname = \"serde\"\nsuplier = \"typo\"\n",
    );
    f.commit("typo in soup.toml\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.2.0");
    let out = f.reprove(&["soup", "v1.2.0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = crate::support::stderr(&out);
    assert!(err.contains("`soup.toml`: line 3"), "{err}");
    assert!(err.contains("suplier"), "{err}");
}

/// Issue 13: `[soup] lockfiles` chooses the lockfiles that make up the SOUP and `[soup]
/// exclude` leaves paths (a vendored tree, fuzz targets) out of the SOUP and the image scan.
#[test]
fn soup_scope_follows_lockfiles_and_exclude() {
    let f = crate::support::Fixture::new();
    let lock = |name: &str| {
        format!(
            "version = 3\n\n[[package]]\nname = \"{name}\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"\n",
            "a".repeat(64)
        )
    };
    f.write("Cargo.lock", lock("shipped"));
    f.write("fuzz/Cargo.lock", lock("fuzzonly"));
    f.write("vendor/dep/Cargo.lock", lock("vendored"));
    f.write("vendor/dep/Dockerfile", "FROM vendored.example/ci:1\n");
    f.write("Dockerfile", "FROM shipped.example/app:1\n");
    f.write(
        "reprove.toml",
        "[project]\nname = \"x\"\n\n[soup]\nlockfiles = [\"Cargo.lock\"]\nexclude = [\"vendor/**\"]\n",
    );
    f.commit("scoped\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.0.0");
    let v = f.json(&["baseline", "v1.0.0", "--format", "json"], 0);
    let names: Vec<&str> = v["predicate"]["soup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    // The shipped lockfile's crate and the shipped image; not fuzz/, not vendor/.
    assert_eq!(names, ["shipped", "shipped.example/app"]);
    let images: Vec<&str> = v["predicate"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["shipped.example/app:1"]);
    // A glob that does not compile is an error naming the setting.
    f.write("reprove.toml", "[soup]\nexclude = [\"[\"]\n");
    f.commit("bad glob\n\nReviewed-by: R <r@example.com>");
    f.tag("v1.1.0");
    let out = f.reprove(&["baseline", "v1.1.0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::support::stderr(&out).contains("[soup] exclude"),
        "{}",
        crate::support::stderr(&out)
    );
}

/// Issue 13: a vendored tree (`cargo vendor`) is read as the crates it holds — one item each,
/// with the package checksum — never as their own lockfiles or CI files; a crate the root
/// Cargo.lock locks with the same checksum is listed once.
#[test]
fn a_vendored_tree_is_the_crates_it_holds() {
    let f = crate::support::Fixture::new();
    let sum = "ab".repeat(32);
    let other = "cd".repeat(32);
    f.write(
        "Cargo.lock",
        format!("version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\"itoa\"]\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.19\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{sum}\"\n"),
    );
    // What `cargo vendor` tells the user to add: cargo builds from the vendor directory.
    f.write(
        ".cargo/config.toml",
        "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n[source.vendored-sources]\ndirectory = \"vendor\"\n",
    );
    // A `.cargo-checksum.json` planted elsewhere hides nothing.
    f.write(
        "docker/.cargo-checksum.json",
        "{\"files\":{},\"package\":null}",
    );
    f.write(
        "docker/Cargo.toml",
        "[package]\nname = \"x\"\nversion = \"1.0.0\"\n",
    );
    f.write("docker/Dockerfile", "FROM debian:bookworm\n");
    for (name, version, checksum) in [("itoa", "1.0.19", &sum), ("ryu", "1.0.23", &other)] {
        f.write(
            &format!("vendor/{name}/Cargo.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\n"),
        );
        f.write(
            &format!("vendor/{name}/.cargo-checksum.json"),
            format!("{{\"files\":{{}},\"package\":\"{checksum}\"}}"),
        );
        f.write(&format!("vendor/{name}/src/lib.rs"), "");
        // What cargo vendor copies along and no build of this project reads.
        f.write(
            &format!("vendor/{name}/Cargo.lock"),
            "version = 3\n\n[[package]]\nname = \"criterion\"\nversion = \"0.5.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
        );
        f.write(
            &format!("vendor/{name}/.github/workflows/ci.yml"),
            "jobs:\n  t:\n    container: node:20\n",
        );
    }
    f.commit("vendored\n\nReviewed-by: R <r@example.com>");
    let v = f.json(&["soup", "--format", "json"], 0);
    let items: Vec<(String, String)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["purl"].as_str().unwrap().to_owned(),
                i["manifest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            ("pkg:cargo/itoa@1.0.19".to_owned(), "Cargo.lock".to_owned()),
            (
                "pkg:cargo/ryu@1.0.23".to_owned(),
                "vendor/ryu/.cargo-checksum.json".to_owned()
            ),
            // the planted `.cargo-checksum.json` did not hide the Dockerfile's base image
            (
                "pkg:oci/debian?repository_url=docker.io/library/debian&tag=bookworm".to_owned(),
                "docker/Dockerfile".to_owned()
            ),
        ]
    );
    f.tag("v1.0.0");
    let b = f.json(&["baseline", "v1.0.0", "--format", "json"], 0);
    let images: Vec<&str> = b["predicate"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["file"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["docker/Dockerfile"], "{b}");
}
