//! Container images as release artifacts: a recipe that writes an OCI image layout, the image
//! pushed to a real docker-registry on loopback, `release --artifacts oci://…@sha256:…`
//! attesting it by digest, and `verify --artifacts oci://…:TAG` checking what the registry
//! serves now — and failing when the tag moves or the image is gone.

use std::io::Read;

use reprove_oci::registry::OCI_MANIFEST;
use reprove_oci::testing::TestRegistry;
use serde_json::Value;

use crate::release::Release;

/// A recipe that builds a one-layer OCI image of `src/greeting.txt` with busybox alone:
/// fixed times and owner, so two builds give the same blobs; the layout is tarred to
/// `dist/app.oci.tar`.
const IMAGE_BUILD: &str = r#"set -eu
mkdir -p dist w/root/app w/layout/blobs/sha256
cp src/greeting.txt w/root/app/greeting.txt
touch -d "@$SOURCE_DATE_EPOCH" w/root/app/greeting.txt w/root/app
tar -cf w/layer.tar -C w/root app
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { echo $(( $(wc -c < "$1") )); }
L=$(sha w/layer.tar); LS=$(size w/layer.tar)
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$L" > w/config.json
C=$(sha w/config.json); CS=$(size w/config.json)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$C" "$CS" "$L" "$LS" > w/manifest.json
M=$(sha w/manifest.json); MS=$(size w/manifest.json)
cp w/layer.tar "w/layout/blobs/sha256/$L"
cp w/config.json "w/layout/blobs/sha256/$C"
cp w/manifest.json "w/layout/blobs/sha256/$M"
printf '{"imageLayoutVersion":"1.0.0"}' > w/layout/oci-layout
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}]}' "$M" "$MS" > w/layout/index.json
tar -cf dist/app.oci.tar -C w/layout oci-layout index.json blobs
"#;

/// The blobs and the manifest of the OCI layout tar at `path`: (blobs, manifest bytes).
fn read_layout(path: &str) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut blobs = Vec::new();
    let mut index = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        if name == "index.json" {
            index = bytes;
        } else if name.starts_with("blobs/sha256/") && e.header().entry_type().is_file() {
            blobs.push(bytes);
        }
    }
    let index: Value = serde_json::from_slice(&index).unwrap();
    let top = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest = blobs
        .iter()
        .find(|b| reprove_digest::sha256_bytes(b).to_string() == top)
        .unwrap()
        .clone();
    (blobs, manifest)
}

fn provenance_subjects(r: &Release, tag: &str) -> Vec<Value> {
    let bundle: Value = serde_json::from_slice(
        &std::fs::read(r.evidence(tag).join("provenance.sigstore.json")).unwrap(),
    )
    .unwrap();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let st: Value = serde_json::from_slice(&payload).unwrap();
    st["subject"].as_array().unwrap().clone()
}

#[test]
fn an_image_is_released_by_digest_reproduced_from_its_layout_and_verified_in_its_registry() {
    let Some(r) = Release::new(IMAGE_BUILD, true) else {
        return;
    };
    // The image as CI published it: a first rebuild's layout, pushed blob for blob.
    let keep = r.p("first");
    r.expect(&["rebuild", "v1.0.0", "--keep", &keep], 0);
    let (blobs, manifest) = read_layout(&format!("{keep}/artifacts/app.oci.tar"));
    let reg = TestRegistry::start();
    for b in &blobs {
        reg.push_blob("tiny/app", b);
    }
    let digest = reg.put_manifest("tiny/app", "1.0", OCI_MANIFEST, &manifest);
    let pinned = format!("oci://{}/tiny/app@{digest}", reg.host);
    let by_tag = format!("oci://{}/tiny/app:1.0", reg.host);

    // A tag alone is refused before anything is built: a release attests bytes, not a name.
    let (code, _, err) = r.run(&[
        "release",
        "v1.0.0",
        "--artifacts",
        &by_tag,
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("names no digest"), "{err}");
    assert!(!r.evidence("v1.0.0").exists());

    let out = r.expect(
        &[
            "release",
            "v1.0.0",
            "--artifacts",
            &pinned,
            "--key",
            &r.p("k.key"),
        ],
        0,
    );
    assert!(out.contains("reproducible"), "{out}");
    // The image is the subject, by its manifest digest, with its media type; the layout tar
    // that carried it is neither a subject nor kept as a rebuilt artifact.
    let subjects = provenance_subjects(&r, "v1.0.0");
    let name = format!("{}/tiny/app@{digest}", reg.host);
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert_eq!(subjects[0]["name"], name.as_str());
    assert_eq!(subjects[0]["digest"]["sha256"], digest.hex().as_str());
    assert_eq!(subjects[0]["mediaType"], OCI_MANIFEST);
    assert!(!r.evidence("v1.0.0").join("rebuilt").exists());
    let report: Value = serde_json::from_slice(
        &std::fs::read(r.evidence("v1.0.0").join("rebuild-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["images"][0]["verdict"], "match");
    assert_eq!(report["images"][0]["rebuiltIn"], "app.oci.tar");

    // verify resolves the tag now: it serves the attested digest.
    let key = r.p("k.pub");
    let out = r.expect(
        &["verify", "v1.0.0", "--artifacts", &by_tag, "--key", &key],
        0,
    );
    assert!(out.contains("served as attested"), "{out}");
    let json: Value = serde_json::from_str(&r.expect(
        &[
            "verify",
            "v1.0.0",
            "--artifacts",
            &pinned,
            "--key",
            &key,
            "--format",
            "json",
        ],
        0,
    ))
    .unwrap();
    assert_eq!(json["verdict"], "verified");
    assert_eq!(json["artifactsChecked"][0], name.as_str());
    // Images and no file: the folder is not asked for; a fresh rebuild compares the layout
    // with the attested image again.
    let json: Value = serde_json::from_str(&r.expect(
        &[
            "verify",
            "v1.0.0",
            "--artifacts",
            &by_tag,
            "--key",
            &key,
            "--rebuild",
            "--format",
            "json",
        ],
        0,
    ))
    .unwrap();
    let rebuild = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "rebuild")
        .unwrap();
    assert_eq!(rebuild["status"], "pass", "{rebuild}");

    // The tag moved to other bytes: not the attested image.
    let (other, _) = reg.push_image("tiny/app", Some("1.0"), "someone else's", "linux/amd64");
    let (code, out, err) = r.run(&["verify", "v1.0.0", "--artifacts", &by_tag, "--key", &key]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("unattested-artifact"), "{out}");
    assert!(out.contains(&other.to_string()), "{out}");
    // The attested image deleted from its registry: missing.
    reg.delete_manifest("tiny/app", &digest);
    let (code, out, err) = r.run(&["verify", "v1.0.0", "--artifacts", &pinned, "--key", &key]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("missing-artifact"), "{out}");
    // A registry that is not there: could not check, never verified.
    let gone = "oci://127.0.0.1:9/tiny/app:1.0";
    let (code, out, err) = r.run(&["verify", "v1.0.0", "--artifacts", gone, "--key", &key]);
    assert_eq!(code, 2, "{out}{err}");
}

#[test]
fn a_release_of_files_and_images_attests_both_and_says_which_were_checked() {
    // The layout tar as a file is reproducible only with its members' times fixed too (the
    // image alone is reproducible without: its blobs are).
    let build = IMAGE_BUILD.replace(
        "tar -cf dist/app.oci.tar",
        "find w/layout -exec touch -d \"@$SOURCE_DATE_EPOCH\" {} +\ntar -cf dist/app.oci.tar",
    );
    let Some(r) = Release::new(&build, true) else {
        return;
    };
    // The layout is published as a file too, and its image pushed; an index over that image
    // is published beside it (its manifest is then one subject, not two).
    let dist = r.publish("v1.0.0", "dist");
    let (blobs, manifest) = read_layout(&format!("{dist}/app.oci.tar"));
    let reg = TestRegistry::start();
    for b in &blobs {
        reg.push_blob("tiny/app", b);
    }
    let digest = reg.put_manifest("tiny/app", "1.0", OCI_MANIFEST, &manifest);
    let index = reg.push_index(
        "tiny/app",
        "multi",
        &[(digest.clone(), manifest.len(), "linux/amd64")],
        "one platform",
    );
    let image = format!("oci://{}/tiny/app@{digest}", reg.host);
    let multi = format!("oci://{}/tiny/app@{index}", reg.host);
    // The index is not in the rebuilt layout (its `index.json` lists the manifest only): the
    // release fails for it, and says so.
    let (code, out, _) = r.run(&[
        "release",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--artifacts",
        &image,
        "--artifacts",
        &multi,
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("the image `{}/tiny/app@{index}`", reg.host)),
        "{out}"
    );
    assert!(!out.contains("app.oci.tar` was rebuilt but"), "{out}");
    r.expect(
        &[
            "release",
            "v1.0.0",
            "--force",
            "--artifacts",
            &dist,
            "--artifacts",
            &image,
            "--key",
            &r.p("k.key"),
        ],
        0,
    );
    let mut names: Vec<String> = provenance_subjects(&r, "v1.0.0")
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            format!("{}/tiny/app@{digest}", reg.host),
            "app.oci.tar".to_owned()
        ]
    );
    // The folder alone: the files pass, and the image is said not to be checked.
    let key = r.p("k.pub");
    let out = r.expect(
        &["verify", "v1.0.0", "--artifacts", &dist, "--key", &key],
        0,
    );
    assert!(out.contains("1 attested image(s) not checked"), "{out}");
    // Both: both checked.
    let json: Value = serde_json::from_str(&r.expect(
        &[
            "verify",
            "v1.0.0",
            "--artifacts",
            &dist,
            "--artifacts",
            &format!("oci://{}/tiny/app:1.0", reg.host),
            "--key",
            &key,
            "--format",
            "json",
        ],
        0,
    ))
    .unwrap();
    assert_eq!(
        json["artifactsChecked"].as_array().unwrap().len(),
        2,
        "{json}"
    );
    // Two folders are a usage mistake.
    let (code, _, err) = r.run(&[
        "verify",
        "v1.0.0",
        "--artifacts",
        &dist,
        "--artifacts",
        &dist,
        "--key",
        &key,
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn an_image_the_rebuild_does_not_reproduce_fails_the_release_and_says_what_was_rebuilt() {
    let Some(r) = Release::new(IMAGE_BUILD, true) else {
        return;
    };
    let reg = TestRegistry::start();
    // Published: an image of other content than the recipe builds.
    let (digest, _) = reg.push_image(
        "tiny/app",
        Some("1.0"),
        "not what the tag builds",
        "linux/amd64",
    );
    let pinned = format!("oci://{}/tiny/app@{digest}", reg.host);
    let (code, out, err) = r.run(&[
        "release",
        "v1.0.0",
        "--artifacts",
        &pinned,
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("is not in the rebuilt OCI layouts"), "{out}");
    assert!(out.contains("`app.oci.tar`: `sha256:"), "{out}");
    assert!(
        !r.evidence("v1.0.0")
            .join("provenance.sigstore.json")
            .exists()
    );

    // An image that is not in its registry: nothing is built or written.
    let absent = format!("oci://{}/tiny/app@sha256:{}", reg.host, "0".repeat(64));
    let (code, _, err) = r.run(&[
        "release",
        "v1.0.0",
        "--force",
        "--artifacts",
        &absent,
        "--key",
        &r.p("k.key"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not in its registry"), "{err}");
}
