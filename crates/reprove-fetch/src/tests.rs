use super::*;

const REG: &str = "registry+https://github.com/rust-lang/crates.io-index";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn lock(pkgs: &[(&str, &str, &[u8])]) -> String {
    let mut s = String::from(
        "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n",
    );
    for (n, _, _) in pkgs {
        s.push_str(&format!(" \"{n}\",\n"));
    }
    s.push_str("]\n");
    for (n, v, bytes) in pkgs {
        s.push_str(&format!(
            "\n[[package]]\nname = \"{n}\"\nversion = \"{v}\"\nsource = \"{REG}\"\nchecksum = \"{}\"\n",
            sha(bytes)
        ));
    }
    s
}

fn file(path: &str, bytes: &[u8]) -> StoreFile {
    StoreFile {
        path: path.into(),
        sha256: sha(bytes),
        sha512: Some(hex::encode(sha2::Sha512::digest(bytes))),
        size: bytes.len() as u64,
        executable: false,
    }
}

const IDX: &str = "index.crates.io-1949cf8c6b5b557f";

fn store(extra: &[StoreFile]) -> Vec<StoreFile> {
    let mut v = vec![
        file(
            "CACHEDIR.TAG",
            b"Signature: 8a477f597d28d172789f06886806bc55",
        ),
        file(&format!("index/{IDX}/config.json"), b"{}"),
        file(&format!("index/{IDX}/.cache/it/oa/itoa"), b"index entry"),
        file(
            "cache/CACHEDIR.TAG",
            b"Signature: 8a477f597d28d172789f06886806bc55",
        ),
        file(&format!("cache/{IDX}/itoa-1.0.19.crate"), b"itoa crate"),
        file(&format!("cache/{IDX}/ryu-1.0.23.crate"), b"ryu crate"),
        file(
            &format!("src/{IDX}/itoa-1.0.19/src/lib.rs"),
            b"pub fn f() {}",
        ),
    ];
    v.extend_from_slice(extra);
    v
}

fn checked(files: Vec<StoreFile>, lock_text: &str) -> Checked {
    check(
        files,
        &[Lockfile {
            path: "Cargo.lock",
            content: lock_text.as_bytes(),
        }],
        None,
    )
    .unwrap()
}

fn codes(c: &Checked) -> Vec<(DependencyCode, Option<String>, Option<String>)> {
    c.findings
        .iter()
        .map(|f| (f.code, f.package.clone(), f.path.clone()))
        .collect()
}

#[test]
fn a_store_with_every_locked_crate_passes_and_drops_unpacked_sources() {
    let l = lock(&[
        ("itoa", "1.0.19", b"itoa crate"),
        ("ryu", "1.0.23", b"ryu crate"),
    ]);
    let c = checked(store(&[]), &l);
    assert!(c.findings.is_empty(), "{:?}", c.findings);
    assert_eq!(c.dropped, 1);
    assert_eq!(c.metadata, 4);
    assert_eq!(c.kept.len(), 6);
    assert!(c.kept.iter().all(|f| !f.path.starts_with("src/")));
    let purls: Vec<_> = c.packages.iter().map(|p| p.purl.as_str()).collect();
    assert_eq!(purls, ["pkg:cargo/itoa@1.0.19", "pkg:cargo/ryu@1.0.23"]);
    assert_eq!(
        c.packages[0].download.as_deref(),
        Some("https://static.crates.io/crates/itoa/1.0.19/download")
    );
    assert_eq!(c.packages[0].sha256, sha(b"itoa crate"));
    assert_eq!(c.sha256, store_digest(&c.kept));
    assert!(!c.rejected());
}

#[test]
fn a_tampered_crate_is_named() {
    let l = lock(&[
        ("itoa", "1.0.19", b"the real itoa"),
        ("ryu", "1.0.23", b"ryu crate"),
    ]);
    let c = checked(store(&[]), &l);
    assert_eq!(
        codes(&c),
        [(
            DependencyCode::DependencyMismatch,
            Some("pkg:cargo/itoa@1.0.19".into()),
            Some(format!("cache/{IDX}/itoa-1.0.19.crate"))
        )]
    );
    assert!(c.rejected());
    assert_eq!(
        c.findings[0].expected.as_deref(),
        Some(format!("sha256:{}", sha(b"the real itoa")).as_str())
    );
}

#[test]
fn missing_unlocked_and_planted_files_are_findings() {
    let l = lock(&[
        ("itoa", "1.0.19", b"itoa crate"),
        ("ryu", "1.0.23", b"ryu crate"),
        ("memchr", "2.8.3", b"memchr crate"),
    ]);
    let planted = [
        // Another crate than the lockfile names.
        file(&format!("cache/{IDX}/evil-0.1.0.crate"), b"evil"),
        // A config file cargo would read, or a file beside the layout.
        file("config.toml", b"[build]\nrustflags = []"),
        file(&format!("cache/{IDX}/nested/x.crate"), b"x"),
        // Not what a sparse index holds: refused, not waved through as metadata.
        file(&format!("index/{IDX}/.git/config"), b"[core]"),
        file("deep/CACHEDIR.TAG", b"x"),
    ];
    let c = checked(store(&planted), &l);
    assert_eq!(
        codes(&c),
        [
            (
                DependencyCode::DependencyMissing,
                Some("pkg:cargo/memchr@2.8.3".into()),
                None
            ),
            (
                DependencyCode::DependencyUnlocked,
                None,
                Some(format!("cache/{IDX}/evil-0.1.0.crate"))
            ),
            (
                DependencyCode::DependencyUnlocked,
                None,
                Some(format!("cache/{IDX}/nested/x.crate"))
            ),
            (
                DependencyCode::DependencyUnlocked,
                None,
                Some("config.toml".into())
            ),
            (
                DependencyCode::DependencyUnlocked,
                None,
                Some("deep/CACHEDIR.TAG".into())
            ),
            (
                DependencyCode::DependencyUnlocked,
                None,
                Some(format!("index/{IDX}/.git/config"))
            ),
        ]
    );
    // A second copy of a locked crate in another registry folder is not taken twice.
    let c = checked(
        store(&[file("cache/other-0000/itoa-1.0.19.crate", b"itoa crate")]),
        &lock(&[
            ("itoa", "1.0.19", b"itoa crate"),
            ("ryu", "1.0.23", b"ryu crate"),
        ]),
    );
    assert_eq!(codes(&c)[0].0, DependencyCode::DependencyUnlocked);
}

#[test]
fn git_sources_are_unverifiable_but_not_refused() {
    let mut l = lock(&[
        ("itoa", "1.0.19", b"itoa crate"),
        ("ryu", "1.0.23", b"ryu crate"),
    ]);
    l.push_str("\n[[package]]\nname = \"g\"\nversion = \"0.1.0\"\nsource = \"git+https://example.com/g?rev=abc#abc123\"\n");
    let c = checked(store(&[]), &l);
    assert_eq!(codes(&c)[0].0, DependencyCode::UnverifiableDependency);
    assert!(!c.rejected());
}

#[test]
fn fixed_output_fetches_are_held_to_their_digest() {
    let files = vec![file("a.deb", b"a"), file("b/c", b"c")];
    let want = store_digest(&files);
    let c = check(files.clone(), &[], Some(&want)).unwrap();
    assert!(c.findings.is_empty());
    assert_eq!(c.kept.len(), 2);
    let mut drifted = files;
    drifted[0] = file("a.deb", b"A");
    let c = check(drifted, &[], Some(&want)).unwrap();
    assert_eq!(codes(&c), [(DependencyCode::FetchDrift, None, None)]);
    assert!(c.rejected());
}

#[test]
fn the_store_digest_is_the_digest_of_its_sha256sum_listing() {
    let files = vec![file("b", b"2"), file("a", b"1")];
    let listing = format!("{}  a\n{}  b\n", sha(b"1"), sha(b"2"));
    assert_eq!(store_digest(&files), sha(listing.as_bytes()));
}

#[test]
fn nothing_to_check_and_unknown_lockfiles_are_errors() {
    assert!(matches!(
        check(vec![], &[], None),
        Err(FetchError::NothingToCheck)
    ));
    let err = check(
        vec![],
        &[Lockfile {
            path: "yarn.lock",
            content: b"",
        }],
        None,
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::UnsupportedLockfile { .. }));
    let err = check(
        vec![],
        &[Lockfile {
            path: "Cargo.lock",
            content: b"[[package]\n",
        }],
        None,
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::BadLockfile { .. }), "{err}");
    assert_eq!(
        default_lockfiles(["Cargo.lock", "fuzz/Cargo.lock", "README"]),
        ["Cargo.lock"]
    );
}

#[test]
fn codes_are_kebab_case_and_stable() {
    for c in DependencyCode::ALL {
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
    }
}

#[test]
fn one_file_name_locked_from_two_sources_is_refused() {
    let mut l = lock(&[
        ("itoa", "1.0.19", b"itoa crate"),
        ("ryu", "1.0.23", b"ryu crate"),
    ]);
    l.push_str(&format!(
        "\n[[package]]\nname = \"itoa\"\nversion = \"1.0.19\"\nsource = \"registry+https://other.example/index\"\nchecksum = \"{}\"\n",
        sha(b"other itoa")
    ));
    let c = checked(
        store(&[file("cache/other-0000/itoa-1.0.19.crate", b"other itoa")]),
        &l,
    );
    assert!(c.rejected());
    assert!(
        c.findings.iter().any(
            |f| f.code == DependencyCode::DependencyMismatch && f.message.contains("2 sources")
        ),
        "{:?}",
        c.findings
    );
    assert_eq!(derived_folders(["Cargo.lock"]), ["src"]);
    assert_eq!(derived_folders(["package-lock.json"]), ["_logs"]);
    assert!(derived_folders(["requirements.txt"]).is_empty());
}

fn requirements(reqs: &[(&str, &str, &[&[u8]])]) -> String {
    let mut s = String::from("# pip-compile --generate-hashes\n");
    for (n, v, files) in reqs {
        s.push_str(&format!("{n}=={v}"));
        for f in *files {
            s.push_str(&format!(" \\\n    --hash=sha256:{}", sha(f)));
        }
        s.push_str("\n    # via -r requirements.in\n");
    }
    s
}

fn pip_checked(files: Vec<StoreFile>, text: &str) -> Checked {
    check(
        files,
        &[Lockfile {
            path: "requirements.txt",
            content: text.as_bytes(),
        }],
        None,
    )
    .unwrap()
}

#[test]
fn a_wheelhouse_is_checked_by_hash_against_every_file_a_requirement_accepts() {
    let text = requirements(&[
        ("six", "1.16.0", &[b"six sdist", b"six wheel"]),
        ("Zope.Interface", "6.0", &[b"zope wheel"]),
    ]);
    let c = pip_checked(
        vec![
            file("six-1.16.0-py2.py3-none-any.whl", b"six wheel"),
            file(
                "zope.interface-6.0-cp311-cp311-linux_x86_64.whl",
                b"zope wheel",
            ),
        ],
        &text,
    );
    assert!(codes(&c).is_empty(), "{:?}", c.findings);
    assert_eq!(c.kept.len(), 2);
    let purls: Vec<&str> = c.packages.iter().map(|p| p.purl.as_str()).collect();
    assert_eq!(
        purls,
        ["pkg:pypi/six@1.16.0", "pkg:pypi/zope-interface@6.0"]
    );
    assert_eq!(c.packages[0].sha256, sha(b"six wheel"));
    assert_eq!(c.packages[0].lockfiles, ["requirements.txt"]);
}

#[test]
fn a_tampered_missing_or_planted_wheel_is_named() {
    let text = requirements(&[
        ("six", "1.16.0", &[b"six wheel"]),
        ("idna", "3.7", &[b"idna wheel"]),
        ("attrs", "23.2.0", &[b"attrs wheel"]),
    ]);
    let c = pip_checked(
        vec![
            file("six-1.16.0-py2.py3-none-any.whl", b"six wheel, tampered"),
            file("attrs-23.2.0-py3-none-any.whl", b"attrs wheel"),
            file("evil-1.0-py3-none-any.whl", b"evil"),
            // The right bytes in a folder: pip writes the wheelhouse flat.
            file("sub/idna-3.7-py3-none-any.whl", b"idna wheel"),
            file("pip.conf", b"[global]\nindex-url = http://evil\n"),
        ],
        &text,
    );
    assert!(c.rejected());
    assert_eq!(
        codes(&c),
        [
            (
                DependencyCode::DependencyMissing,
                Some("pkg:pypi/idna@3.7".into()),
                None
            ),
            (
                DependencyCode::DependencyMismatch,
                Some("pkg:pypi/six@1.16.0".into()),
                Some("six-1.16.0-py2.py3-none-any.whl".into())
            ),
            (
                DependencyCode::DependencyUnlocked,
                None,
                Some("evil-1.0-py3-none-any.whl".into())
            ),
            (
                DependencyCode::DependencyUnlocked,
                None,
                Some("pip.conf".into())
            ),
            (
                DependencyCode::DependencyUnlocked,
                None,
                Some("sub/idna-3.7-py3-none-any.whl".into())
            ),
        ]
    );
    assert_eq!(c.kept.len(), 1, "only the checked wheel is kept");
}

#[test]
fn a_requirement_without_a_sha256_hash_is_unverifiable() {
    let c = pip_checked(vec![], "six==1.16.0\n");
    assert_eq!(
        codes(&c),
        [(
            DependencyCode::UnverifiableDependency,
            Some("pkg:pypi/six@1.16.0".into()),
            None
        )]
    );
    assert!(!c.rejected());
}

#[test]
fn one_store_holds_one_ecosystem_and_defaults_prefer_cargo() {
    let err = check(
        vec![],
        &[
            Lockfile {
                path: "Cargo.lock",
                content: b"version = 4\n",
            },
            Lockfile {
                path: "requirements.txt",
                content: b"",
            },
        ],
        None,
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::MixedLockfiles { .. }), "{err}");
    assert_eq!(
        default_lockfiles(["requirements.txt", "Cargo.lock"]),
        ["Cargo.lock"]
    );
    assert_eq!(
        default_lockfiles(["requirements-dev.txt", "requirements.txt"]),
        ["requirements.txt"]
    );
    assert!(default_lockfiles(["docs/requirements.txt"]).is_empty());
}

/// Regression (attack review): the bytes of a locked wheel under another name (an `.html`
/// page pip's find-links would parse, another package's name) are not that package.
#[test]
fn locked_bytes_under_another_name_are_unlocked() {
    let text = requirements(&[
        ("six", "1.16.0", &[b"six wheel"]),
        ("idna", "3.7", &[b"idna wheel"]),
    ]);
    let c = pip_checked(
        vec![
            file("six-1.16.0-py2.py3-none-any.whl", b"six wheel"),
            file("idna-3.7-py3-none-any.whl", b"idna wheel"),
            file("index.html", b"six wheel"),
            file("evil-9.9-py3-none-any.whl", b"idna wheel"),
        ],
        &text,
    );
    assert_eq!(
        codes(&c),
        [
            (
                DependencyCode::DependencyUnlocked,
                None,
                Some("evil-9.9-py3-none-any.whl".into())
            ),
            (
                DependencyCode::DependencyUnlocked,
                None,
                Some("index.html".into())
            ),
        ]
    );
    assert_eq!(c.packages.len(), 2);
}

fn sri(bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes))
    )
}

fn package_lock(pkgs: &[(&str, &str, &[u8])]) -> String {
    let mut entries = vec!["\"\": {\"name\": \"app\", \"version\": \"1.0.0\"}".to_owned()];
    for (n, v, bytes) in pkgs {
        entries.push(format!(
            "\"node_modules/{n}\": {{\"version\": \"{v}\", \"resolved\": \"https://registry.npmjs.org/{n}/-/{n}-{v}.tgz\", \"integrity\": \"{}\"}}",
            sri(bytes)
        ));
    }
    format!(
        "{{\"name\": \"app\", \"lockfileVersion\": 3, \"packages\": {{{}}}}}",
        entries.join(", ")
    )
}

fn content(bytes: &[u8]) -> String {
    let h = hex::encode(sha2::Sha512::digest(bytes));
    format!(
        "_cacache/content-v2/sha512/{}/{}/{}",
        &h[..2],
        &h[2..4],
        &h[4..]
    )
}

fn npm_checked(files: Vec<StoreFile>, text: &str) -> Checked {
    check(
        files,
        &[Lockfile {
            path: "package-lock.json",
            content: text.as_bytes(),
        }],
        None,
    )
    .unwrap()
}

#[test]
fn an_npm_cache_is_checked_by_the_integrity_the_lockfile_locks() {
    let text = package_lock(&[("ms", "2.1.3", b"ms tgz"), ("left-pad", "1.3.0", b"lp tgz")]);
    let c = npm_checked(
        vec![
            file(&content(b"ms tgz"), b"ms tgz"),
            file(&content(b"lp tgz"), b"lp tgz"),
            file("_cacache/index-v5/21/a7/bd8af8", b"key line"),
            file("_update-notifier-last-checked", b""),
        ],
        &text,
    );
    assert!(codes(&c).is_empty(), "{:?}", c.findings);
    assert_eq!((c.kept.len(), c.metadata, c.dropped), (3, 1, 1));
    let purls: Vec<&str> = c.packages.iter().map(|p| p.purl.as_str()).collect();
    assert_eq!(purls, ["pkg:npm/left-pad@1.3.0", "pkg:npm/ms@2.1.3"]);
    assert_eq!(
        c.packages[1].download.as_deref(),
        Some("https://registry.npmjs.org/ms/-/ms-2.1.3.tgz")
    );
}

#[test]
fn a_tampered_missing_or_planted_npm_package_is_named() {
    let text = package_lock(&[
        ("ms", "2.1.3", b"ms tgz"),
        ("left-pad", "1.3.0", b"lp tgz"),
        ("is-number", "7.0.0", b"isn tgz"),
    ]);
    let c = npm_checked(
        vec![
            // the right name, other bytes: what a poisoned cache holds
            file(&content(b"ms tgz"), b"evil tgz"),
            file(&content(b"lp tgz"), b"lp tgz"),
            // bytes no lockfile locks, under their own digest
            file(&content(b"planted"), b"planted"),
            file(".npmrc", b"registry=http://evil\n"),
        ],
        &text,
    );
    assert!(c.rejected());
    let got = codes(&c);
    assert!(
        got.contains(&(
            DependencyCode::DependencyMismatch,
            Some("pkg:npm/ms@2.1.3".into()),
            Some(content(b"ms tgz"))
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            DependencyCode::DependencyMissing,
            Some("pkg:npm/is-number@7.0.0".into()),
            None
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            DependencyCode::DependencyUnlocked,
            None,
            Some(content(b"planted"))
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            DependencyCode::DependencyUnlocked,
            None,
            Some(".npmrc".into())
        )),
        "{got:?}"
    );
    assert_eq!(got.len(), 4, "{got:?}");
}

/// A package npm installs only on other platforms (`"optional": true`, like
/// `@esbuild/darwin-arm64`) is not missing when the fetch did not get it.
#[test]
fn an_optional_npm_package_absent_from_the_store_is_no_finding() {
    let text = package_lock(&[("ms", "2.1.3", b"ms tgz")]).replace(
        "\"packages\": {",
        &format!(
            "\"packages\": {{\"node_modules/@esbuild/darwin-arm64\": {{\"version\": \"0.20.0\", \"optional\": true, \"integrity\": \"{}\"}}, ",
            sri(b"darwin binary")
        ),
    );
    let c = npm_checked(vec![file(&content(b"ms tgz"), b"ms tgz")], &text);
    assert!(codes(&c).is_empty(), "{:?}", c.findings);
    // Present, it is checked like any other.
    let c = npm_checked(
        vec![
            file(&content(b"ms tgz"), b"ms tgz"),
            file(&content(b"darwin binary"), b"darwin binary"),
        ],
        &text,
    );
    assert!(codes(&c).is_empty(), "{:?}", c.findings);
    assert_eq!(c.packages.len(), 2);
}

/// A requirement with an environment marker (`; python_version < "3.11"`) that pip did not
/// download on the build's platform is not missing.
#[test]
fn a_marked_requirement_absent_from_the_wheelhouse_is_no_finding() {
    let text = format!(
        "six==1.16.0 --hash=sha256:{}\ntomli==2.0.1 ; python_version < \"3.11\" --hash=sha256:{}\n",
        sha(b"six wheel"),
        sha(b"tomli wheel")
    );
    let c = pip_checked(
        vec![file("six-1.16.0-py2.py3-none-any.whl", b"six wheel")],
        &text,
    );
    assert!(codes(&c).is_empty(), "{:?}", c.findings);
}
